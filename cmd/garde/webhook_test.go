package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.168.1.7 ,::1,, 172.16.5.9/12")
	if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 192.168.1.7/32 ::1/128 172.16.0.0/12]" {
		t.Fatalf("parsePrefixes = %v, %v", got, err)
	}
	if _, err := parsePrefixes("10.0.0.0/8,lb.internal"); err == nil {
		t.Fatal("a host name is accepted")
	}
	if got, err := parsePrefixes(""); err != nil || len(got) != 0 {
		t.Fatalf("parsePrefixes(\"\") = %v, %v", got, err)
	}
}

// TestEgressPolicy: --egress-allow (GARDE_EGRESS_ALLOW) builds the policy
// of every outgoing connection; GARDE_WEBHOOK_PUBLIC_ONLY is only warned
// about, since public-only is the default; a bad list stops serve.
func TestEgressPolicy(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := egressPolicy("127.0.0.1, 10.0.0.0/8,hooks.internal", func(k string) string {
		return map[string]string{"GARDE_WEBHOOK_PUBLIC_ONLY": "1"}[k]
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.String(); got != "public addresses and 127.0.0.1/32, 10.0.0.0/8, hooks.internal" {
		t.Fatalf("policy = %q", got)
	}
	if !strings.Contains(logs.String(), "GARDE_WEBHOOK_PUBLIC_ONLY is superseded") {
		t.Fatalf("no warning for GARDE_WEBHOOK_PUBLIC_ONLY: %s", logs.String())
	}
	if p.Check(netip.MustParseAddr("169.254.169.254")) == nil {
		t.Fatal("the metadata service is allowed")
	}
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		func(k string) string { return map[string]string{"GARDE_EGRESS_ALLOW": "http://hooks"}[k] }, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--egress-allow") {
		t.Fatalf("serve with GARDE_EGRESS_ALLOW=http://hooks = %v, want a usage error", err)
	}
}

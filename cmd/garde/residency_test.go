package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesOutsideEEA: `garde serve` declared outside the EU/EEA
// refuses to start unless every register records a transfer there.
func TestServeRefusesOutsideEEA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"tenant", "create", "A", "--data-dir", dir}, noEnv, nil, &out, &errb); err != nil {
		t.Fatalf("tenant create: %v\n%s", err, errb.String())
	}
	env := func(region string) func(string) string {
		return func(k string) string {
			if k == "GARDE_REGION" {
				return region
			}
			return ""
		}
	}
	for _, tt := range []struct {
		region string
		flag   bool
		ok     bool
	}{
		{"us-east-1", true, false},
		{"us-east-1", false, false}, // GARDE_REGION
		{"CN", true, false},
		{"mars-1", true, false},
		{"eu-west-3", true, true},
		{"SE", false, true},
	} {
		args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}
		getenv := noEnv
		if tt.flag {
			args = append(args, "--region", tt.region)
		} else {
			getenv = env(tt.region)
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var stdout, stderr bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- run(cctx, args, getenv, nil, &stdout, &stderr) }()
		var err error
		if tt.ok {
			time.Sleep(300 * time.Millisecond)
			cancel()
			err = <-done
		} else {
			err = <-done
			cancel()
		}
		switch {
		case tt.ok && err != nil:
			t.Errorf("serve in %s = %v, want it to start", tt.region, err)
		case !tt.ok && err == nil:
			t.Errorf("serve in %s started, want a refusal", tt.region)
		case !tt.ok && !strings.Contains(err.Error(), "residency") && !strings.Contains(err.Error(), "region"):
			t.Errorf("serve in %s = %v, want a residency error", tt.region, err)
		}
	}
}

func noEnv(string) string { return "" }

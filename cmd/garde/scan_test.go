package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunScan(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{
			name:  "text",
			stdin: "Bonjour, je m'appelle Marie Dupont, tél 06 12 34 56 78\nrien\n",
			want: "stdin:1:23: PERSON 0.95 \"Marie Dupont\"\n" +
				"stdin:1:41: PHONE_NUMBER 0.95 \"06 12 34 56 78\"\n",
		},
		{
			name:  "anonymize",
			args:  []string{"--anonymize"},
			stdin: "tél 06 12 34 56 78\nrien\n",
			want:  "tél <PHONE_NUMBER>\nrien\n",
		},
		{
			name:  "mask",
			args:  []string{"--anonymize", "--operator", "mask"},
			stdin: "tél 06 12 34 56 78",
			want:  "tél ** ** ** 56 78\n",
		},
		{
			name:  "jsonl code points",
			args:  []string{"--jsonl"},
			stdin: `{"id":"a","text":"Écrivez à marie@exemple.fr"}` + "\n\n" + `{"id":2,"text":"rien"}` + "\n",
			want: `{"id":"a","entities":[{"type":"EMAIL_ADDRESS","start":10,"end":26,"score":0.95}]}` + "\n" +
				`{"id":2,"entities":[]}` + "\n",
		},
		{
			name:  "jsonl anonymize types",
			args:  []string{"--jsonl", "--anonymize", "--types", "phone_number"},
			stdin: `{"id":1,"text":"Marie, 06 12 34 56 78"}`,
			want:  `{"id":1,"entities":[{"type":"PHONE_NUMBER","start":7,"end":21,"score":0.75}],"anonymized":"Marie, <PHONE_NUMBER>"}` + "\n",
		},
		{
			name:  "min score",
			args:  []string{"--min-score", "0.99"},
			stdin: "tél 06 12 34 56 78, mail a@b.fr",
			want:  "stdin:1:26: EMAIL_ADDRESS 1.00 \"a@b.fr\"\n",
		},
		{
			name:  "lang en has no French numbers",
			args:  []string{"--lang", "en"},
			stdin: "see 06 12 34 56 78",
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runScan(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &errb)
			if err != nil {
				t.Fatalf("runScan(%q) error: %v (stderr %q)", tt.args, err, errb.String())
			}
			if got := out.String(); got != tt.want {
				t.Errorf("runScan(%q) on %q =\n%s\nwant\n%s", tt.args, tt.stdin, got, tt.want)
			}
		})
	}
}

func TestRunScanFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(a, []byte("IBAN FR7630006000011234567890189\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runScan(context.Background(), []string{a, "--types", "IBAN_CODE"}, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := a + ":1:6: IBAN_CODE 1.00 \"FR7630006000011234567890189\"\n"; out.String() != want {
		t.Errorf("runScan(file) = %q, want %q", out.String(), want)
	}
}

func TestRunScanErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"bad lang", []string{"--lang", "de"}, ""},
		{"bad type", []string{"--types", "FOO"}, ""},
		{"bad operator", []string{"--anonymize", "--operator", "encrypt"}, ""},
		{"bad json", []string{"--jsonl"}, `{"id":1,"text":"Marie Dupont 06 12 34 56 78"` + "\n"},
		{"json without text", []string{"--jsonl"}, `{"id":1}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runScan(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &errb)
			if err == nil {
				t.Fatalf("runScan(%q) = nil, want an error", tt.args)
			}
			// No personal data in errors.
			if strings.Contains(err.Error(), "Marie") || strings.Contains(err.Error(), "06 12") {
				t.Errorf("runScan(%q) error leaks the input: %v", tt.args, err)
			}
		})
	}
}

func TestRunScanLongLine(t *testing.T) {
	// A line longer than scanMaxLine is scanned in pieces cut at spaces:
	// every phone number is still found, none twice.
	const phone = "06 12 34 56 78 "
	n := scanMaxLine/len(phone) + 1000
	text := strings.Repeat(phone, n)
	var out bytes.Buffer
	if err := runScan(context.Background(), nil, strings.NewReader(text), &out, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "PHONE_NUMBER"); got != n {
		t.Errorf("long line: found %d phone numbers, want %d", got, n)
	}
}

func TestRunScanCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	text := strings.Repeat("rien\n", 5000)
	err := runScan(ctx, nil, strings.NewReader(text), &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("runScan(canceled) = %v, want context.Canceled", err)
	}
}

func TestRunScanJSONValid(t *testing.T) {
	var out bytes.Buffer
	in := `{"id":{"conv":7},"text":"né le 12/03/1985 à Lyon, <b>"}` + "\n"
	if err := runScan(context.Background(), []string{"--jsonl", "--anonymize"}, strings.NewReader(in), &out, &out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID         map[string]int
		Entities   []map[string]any
		Anonymized string
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", out.String(), err)
	}
	if got.ID["conv"] != 7 || len(got.Entities) != 1 || got.Anonymized != "né le <DATE_OF_BIRTH> à Lyon, <b>" {
		t.Errorf("runScan --jsonl --anonymize = %s", out.String())
	}
}

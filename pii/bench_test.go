package pii

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"runtime"
	"testing"
)

// The benchmarks scan garde's chat set (testdata/pii/chat.jsonl, a
// personal datum or a hard negative every 50 bytes or so) message by
// message, as ingest does. One op is the whole corpus. Compare, in the same
// run:
//
//	go test ./pii -run '^$' -bench . -benchmem
//
// BenchmarkScan (every recognizer on), BenchmarkRegexpBaseline (one Go
// regexp per recognizer, the naive design), BenchmarkByteLoop (counting
// '@' in a plain loop: the memory-bandwidth ceiling of any scanner).
//
// Besides MB/s (wall clock), each reports cpu-MB/s: bytes per second of the
// benchmark thread's own CPU time, which other work on a shared machine
// disturbs much less.

func benchCorpus(b *testing.B) (msgs []string, size int64) {
	b.Helper()
	f, err := os.Open("../testdata/pii/chat.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m.Text)
		size += int64(len(m.Text))
	}
	return msgs, size
}

// measure runs body once per op over the corpus and reports MB/s,
// allocations, allocations per message and cpu-MB/s.
func measure(b *testing.B, msgs []string, size int64, body func(m string)) {
	b.SetBytes(size)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := threadCPU()
	n := 0
	for b.Loop() {
		for _, m := range msgs {
			body(m)
		}
		n++
	}
	cpu := threadCPU() - cpu0
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n*len(msgs)), "allocs/msg")
	if cpu > 0 {
		b.ReportMetric(float64(int64(n)*size)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

func BenchmarkScan(b *testing.B) {
	msgs, size := benchCorpus(b)
	s := NewScanner(Options{})
	var dst []Entity
	var found int
	b.Run("AppendScan", func(b *testing.B) {
		measure(b, msgs, size, func(m string) { dst = s.AppendScan(dst[:0], m) })
	})
	b.Run("AppendScanMessage", func(b *testing.B) {
		measure(b, msgs, size, func(m string) { dst, _ = s.AppendScanMessage(dst[:0], m) })
	})
	b.Run("Scan", func(b *testing.B) {
		measure(b, msgs, size, func(m string) { found += len(s.Scan(m)) })
	})
	b.Run("ScanMessage", func(b *testing.B) {
		measure(b, msgs, size, func(m string) { found += len(s.ScanMessage(m).Entities) })
	})
	b.Run("Parallel", func(b *testing.B) {
		b.SetBytes(size)
		b.RunParallel(func(pb *testing.PB) {
			var dst []Entity
			for pb.Next() {
				for _, m := range msgs {
					dst = s.AppendScan(dst[:0], m)
				}
			}
		})
	})
	_ = found
}

// baselinePatterns is the naive design: one regular expression per
// recognizer, each run over every message, validators applied to matches.
var baselinePatterns = []struct {
	typ      string
	re       string
	validate func(string) bool
}{
	{EmailAddress, `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`, nil},
	{URL, `(?i)\b(?:https?://|www\.)[^\s<>"]+`, nil},
	{IPAddress, `\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b`, nil},
	{IPAddress, `(?i)\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}\b`, nil},
	{PhoneNumber, `(?:\+|00)\d{1,3}[ .-]?(?:\(0\))?\d(?:[ .-]?\d){6,13}`, nil},
	{PhoneNumber, `\b0[1-9](?:[ .-]?\d{2}){4}\b`, nil},
	{PhoneNumber, `\(?\b\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}\b`, nil},
	{CreditCard, `\b(?:\d[ -]?){12,18}\d\b`, func(s string) bool { return luhn(digitsOf(s)) }},
	{IBANCode, `\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b`, func(s string) bool { return ibanValid(alnumOf(s)) }},
	{FRNIR, `\b[12378]\s?\d{2}\s?(?:0[1-9]|1[0-2]|[2-9]\d)\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}\s?\d{2}\b`, func(s string) bool { return nirValid(alnumOf(s)) }},
	{FRSIRET, `\b\d{3}\s?\d{3}\s?\d{3}\s?\d{5}\b`, func(s string) bool { return siretValid(digitsOf(s)) }},
	{FRSIREN, `\b\d{3}\s?\d{3}\s?\d{3}\b`, func(s string) bool { return sirenValid(digitsOf(s)) }},
	{FRTVA, `\bFR\s?[0-9A-Z]{2}\s?\d{3}\s?\d{3}\s?\d{3}\b`, nil},
	{FRPassport, `\b\d{2}[A-Z]{2}\d{5}\b`, nil},
	{FRLicensePlate, `\b[A-HJ-NP-TV-Z]{2}[- ]?\d{3}[- ]?[A-HJ-NP-TV-Z]{2}\b`, nil},
	{DateOfBirth, `(?i)(?:né|née|born|naissance|birth)\D{0,20}\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}`, nil},
	{Location, `(?i)\b\d{1,4}(?:\s?(?:bis|ter))?,?\s(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|route)\s[^,\n]{2,40}`, nil},
	{Location, `\b\d{1,5}\s(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Drive|Close|Way)\b`, nil},
	{Person, `\b(?:M\.|Mme|Mr\.?|Mrs\.?|Ms\.?|Madame|Monsieur|Dr\.?)\s[A-Z][a-zé]+(?:\s[A-Z][a-zé]+)?`, nil},
	{Person, `(?i:je m'appelle|my name is|cordialement,?|regards,?)\s+[A-Z][a-zé]+(?:\s[A-Z][a-zé]+)?`, nil},
}

func digitsOf(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b = append(b, s[i])
		}
	}
	return b
}

func alnumOf(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		if isAlnum(s[i]) {
			b = append(b, s[i])
		}
	}
	return b
}

func BenchmarkRegexpBaseline(b *testing.B) {
	msgs, size := benchCorpus(b)
	var recs []Recognizer
	for _, p := range baselinePatterns {
		recs = append(recs, NewPatternRecognizer(p.typ, regexp.MustCompile(p.re), 0.8, p.validate))
	}
	s := NewScanner(Options{NoBuiltin: true, Recognizers: recs})
	var dst []Entity
	measure(b, msgs, size, func(m string) { dst = s.AppendScan(dst[:0], m) })
}

func BenchmarkByteLoop(b *testing.B) {
	msgs, size := benchCorpus(b)
	n := 0
	measure(b, msgs, size, func(m string) {
		for i := 0; i < len(m); i++ {
			if m[i] == '@' {
				n++
			}
		}
	})
	_ = n
}

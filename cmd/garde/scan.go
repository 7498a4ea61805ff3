package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/garde-privacy/garde/pii"
)

const scanUsage = `usage: garde scan [flags] [FILE...]

Finds personal data in text files, or stdin when no file (or "-") is given.
Plain text is read line by line and each finding printed as
FILE:LINE:COL: TYPE SCORE TEXT (COL counts characters from 1).

  --jsonl          read {"id":…,"text":…} lines; write one
                   {"id":…,"entities":[{"type","start","end","score"}]} line
                   per input line, in order; start and end count code points,
                   end exclusive (Presidio's convention)
  --anonymize      print the text with every entity replaced (see --operator);
                   with --jsonl, add an "anonymized" field
  --operator OP    replace (default), redact or mask
  --lang L         fr, en or auto (default auto: both)
  --types LIST     comma-separated entity types to keep (default all)
  --min-score S    drop entities scoring below S (default 0.5)
`

// scanMaxLine bounds the memory garde scan uses: a plain-text line longer
// than this is scanned in pieces cut at white space; a JSON line longer
// than this is an error.
const scanMaxLine = 4 << 20

// runScan implements "garde scan". It streams: memory stays bounded by
// scanMaxLine whatever the input size.
func runScan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, scanUsage) }
	jsonl := fs.Bool("jsonl", false, "read and write JSON Lines")
	anonymize := fs.Bool("anonymize", false, "print anonymised text")
	operator := fs.String("operator", "replace", "replace, redact or mask")
	lang := fs.String("lang", "auto", "fr, en or auto")
	types := fs.String("types", "", "comma-separated entity types")
	minScore := fs.Float64("min-score", 0.5, "minimum score")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	opts := pii.Options{MinScore: *minScore}
	switch *lang {
	case "fr", "en":
		opts.Languages = []string{*lang}
	case "auto", "":
	default:
		return usageError{fmt.Sprintf("scan: --lang must be fr, en or auto, not %q", *lang)}
	}
	if *types != "" {
		known := map[string]bool{}
		for _, t := range pii.Types {
			known[t] = true
		}
		for _, t := range strings.Split(*types, ",") {
			t = strings.ToUpper(strings.TrimSpace(t))
			if !known[t] {
				return usageError{fmt.Sprintf("scan: unknown entity type %q (known: %s)", t, strings.Join(pii.Types, ", "))}
			}
			opts.Types = append(opts.Types, t)
		}
	}
	var policy pii.Policy
	switch op := pii.Operator(*operator); op {
	case pii.Replace, pii.Redact, pii.Mask:
		policy = func(string) pii.OperatorSpec { return pii.OperatorSpec{Operator: op, KeepLast: 4} }
	default:
		return usageError{fmt.Sprintf("scan: --operator must be replace, redact or mask, not %q", *operator)}
	}
	sc := &scanJob{
		s:         pii.NewScanner(opts),
		out:       bufio.NewWriterSize(stdout, 64<<10),
		jsonl:     *jsonl,
		anonymize: *anonymize,
		policy:    policy,
	}
	sc.enc = json.NewEncoder(sc.out)
	sc.enc.SetEscapeHTML(false)
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		if err := sc.file(ctx, name, stdin); err != nil {
			sc.out.Flush()
			return err
		}
	}
	return sc.out.Flush()
}

// scanJob is one run of garde scan: the scanner, the output and buffers
// reused from line to line.
type scanJob struct {
	s         *pii.Scanner
	out       *bufio.Writer
	jsonl     bool
	anonymize bool
	policy    pii.Policy
	enc       *json.Encoder // writes to out, without HTML escaping
	ents      []pii.Entity  // reused between lines
	offs      []int
}

func (sc *scanJob) file(ctx context.Context, name string, stdin io.Reader) error {
	r := stdin
	label := "stdin"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err // the path is the operator's, not personal data
		}
		defer f.Close()
		r, label = f, name
	}
	lr := &lineReader{br: bufio.NewReaderSize(r, 64<<10), strict: sc.jsonl}
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := lr.next()
		if len(line) > 0 || err == nil {
			var werr error
			if sc.jsonl {
				werr = sc.jsonLine(label, n, line)
			} else {
				werr = sc.textLine(label, n, line)
			}
			if werr != nil {
				return werr
			}
		}
		if lr.br.Buffered() == 0 {
			// Nothing more is waiting: let an interactive reader see the
			// output now.
			if err := sc.out.Flush(); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan %s line %d: %w", label, n, err)
		}
	}
}

var errLongLine = errors.New("line longer than 4 MiB")

// lineReader reads lines with bounded memory. A plain-text line longer than
// scanMaxLine comes back in pieces cut at white space; in strict mode
// (JSON) such a line is an error.
type lineReader struct {
	br      *bufio.Reader
	pending []byte // the rest of a cut line, or a reused buffer
	strict  bool
}

func (lr *lineReader) next() (string, error) {
	buf := lr.pending
	for {
		chunk, err := lr.br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			if len(buf) <= scanMaxLine {
				continue
			}
			if lr.strict {
				// Skip the rest of the line so the caller may go on.
				for err == bufio.ErrBufferFull {
					_, err = lr.br.ReadSlice('\n')
				}
				lr.pending = buf[:0]
				return "", errLongLine
			}
			k := bytes.LastIndexAny(buf[:scanMaxLine], " \t") + 1
			if k <= 0 {
				k = scanMaxLine
				for k > 0 && !utf8.RuneStart(buf[k]) {
					k--
				}
			}
			line := string(buf[:k])
			n := copy(buf, buf[k:])
			lr.pending = buf[:n]
			return line, nil
		}
		line := string(bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r")))
		lr.pending = buf[:0]
		return line, err
	}
}

func (sc *scanJob) textLine(label string, n int, line string) error {
	sc.ents = sc.s.AppendScan(sc.ents[:0], line)
	if sc.anonymize {
		out, _, err := pii.Anonymize(line, sc.ents, sc.policy)
		if err != nil {
			return fmt.Errorf("scan %s line %d: %w", label, n, err)
		}
		sc.out.WriteString(out)
		return sc.out.WriteByte('\n')
	}
	sc.offs = pii.RuneOffsetsAll(sc.offs[:0], line, sc.ents)
	for k, e := range sc.ents {
		fmt.Fprintf(sc.out, "%s:%d:%d: %s %.2f %s\n", label, n, sc.offs[2*k]+1, e.Type, e.Score, strconv.Quote(e.Text(line)))
	}
	return nil
}

type scanIn struct {
	ID   json.RawMessage `json:"id"`
	Text *string         `json:"text"`
}

type scanEntity struct {
	Type  string  `json:"type"`
	Start int     `json:"start"`
	End   int     `json:"end"`
	Score float64 `json:"score"`
}

type scanOut struct {
	ID         json.RawMessage `json:"id"`
	Entities   []scanEntity    `json:"entities"`
	Anonymized *string         `json:"anonymized,omitempty"`
}

func (sc *scanJob) jsonLine(label string, n int, line string) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	var in scanIn
	if err := json.Unmarshal([]byte(line), &in); err != nil || in.Text == nil {
		// The error would quote the line: say where, not what.
		return fmt.Errorf("scan %s line %d: want a JSON object with a \"text\" string", label, n)
	}
	text := *in.Text
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if in.ID == nil {
		in.ID = json.RawMessage("null")
	}
	sc.ents = sc.s.AppendScan(sc.ents[:0], text)
	sc.offs = pii.RuneOffsetsAll(sc.offs[:0], text, sc.ents)
	out := scanOut{ID: in.ID, Entities: make([]scanEntity, len(sc.ents))}
	for k, e := range sc.ents {
		out.Entities[k] = scanEntity{Type: e.Type, Start: sc.offs[2*k], End: sc.offs[2*k+1], Score: round2(e.Score)}
	}
	if sc.anonymize {
		a, _, err := pii.Anonymize(text, sc.ents, sc.policy)
		if err != nil {
			return fmt.Errorf("scan %s line %d: %w", label, n, err)
		}
		out.Anonymized = &a
	}
	if err := sc.enc.Encode(out); err != nil {
		return fmt.Errorf("scan %s line %d: %w", label, n, err)
	}
	return nil
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

package rights

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/garde-privacy/garde"
)

// LegacyJournalFile is the file in which garde before the key store kept
// its erasure journal (DATA-DIR/erased.journal, JSON lines).
const LegacyJournalFile = "erased.journal"

type legacyJournalLine struct {
	Tenant  string `json:"t"`
	Subject string `json:"s,omitempty"`
	Index   string `json:"i,omitempty"`
	At      string `json:"at"`
}

// ImportLegacyJournal moves the entries of an erasure journal file into
// the key store's journal (destroying their keys again, should the key
// store hold any) and renames the file to FILE.imported, so that it is
// read once. A torn last line (a crash while appending) is skipped. It
// returns how many entries it imported.
func ImportLegacyJournal(ctx context.Context, ks garde.KeyStore, path string) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var entries []garde.JournalEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l legacyJournalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			if !bytes.HasSuffix(sc.Bytes(), []byte("}")) {
				continue // torn final write
			}
			return 0, fmt.Errorf("erasure journal line %d: %w", n, err)
		}
		e := garde.JournalEntry{Kind: garde.JournalErase, Tenant: garde.TenantID(l.Tenant), Subject: l.Subject}
		if l.Subject == "" && l.Index == "" {
			e.Kind = garde.JournalOffboard
		}
		if l.Index != "" {
			if e.Index, err = base64.RawStdEncoding.DecodeString(l.Index); err != nil {
				return 0, fmt.Errorf("erasure journal line %d: index: %w", n, err)
			}
		}
		e.At, _ = time.Parse(time.RFC3339Nano, l.At)
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if err := ks.Record(ctx, entries); err != nil {
		return 0, err
	}
	return len(entries), os.Rename(path, path+".imported")
}

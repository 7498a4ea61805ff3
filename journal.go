package garde

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// FileJournal is the erasure journal as a file of JSON lines, kept in the
// data directory beside the master key (DATA-DIR/erased.journal, mode
// 0600) and never inside the database: a backup of the database is older
// than the journal, so restoring it replays every erasure made since.
// Each append is written and fsynced before the key destruction it
// records is committed. It holds opaque ids and keyed hashes only.
type FileJournal struct {
	path string
	mu   sync.Mutex
}

// JournalFile is the journal's file name in a data directory.
const JournalFile = "erased.journal"

// OpenFileJournal returns the journal at path (created on first append).
func OpenFileJournal(path string) *FileJournal { return &FileJournal{path: path} }

type journalLine struct {
	Tenant  string `json:"t"`
	Subject string `json:"s,omitempty"`
	Index   string `json:"i,omitempty"`
	At      string `json:"at"`
}

// Append writes entries and syncs the file.
func (j *FileJournal) Append(entries []ErasedKey) error {
	var b bytes.Buffer
	for _, e := range entries {
		l := journalLine{Tenant: string(e.Tenant), Subject: e.Subject, At: e.At.UTC().Format(time.RFC3339Nano)}
		if e.Index != nil {
			l.Index = base64.RawStdEncoding.EncodeToString(e.Index)
		}
		line, err := json.Marshal(l)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Entries reads the whole journal. A torn last line (a crash while
// appending, before the erasure committed) is ignored.
func (j *FileJournal) Entries() ([]ErasedKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ErasedKey
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			if !bytes.HasSuffix(sc.Bytes(), []byte("}")) {
				continue // torn final write
			}
			return nil, fmt.Errorf("erasure journal line %d: %w", n, err)
		}
		e := ErasedKey{Tenant: TenantID(l.Tenant), Subject: l.Subject}
		if l.Index != "" {
			if e.Index, err = base64.RawStdEncoding.DecodeString(l.Index); err != nil {
				return nil, fmt.Errorf("erasure journal line %d: index: %w", n, err)
			}
		}
		e.At, _ = time.Parse(time.RFC3339Nano, l.At)
		out = append(out, e)
	}
	return out, sc.Err()
}

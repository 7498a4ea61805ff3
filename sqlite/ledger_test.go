package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/trail"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"github.com/garde-privacy/garde/sqlite"
	"golang.org/x/mod/sumdb/tlog"
)

// pristineLedger builds a database file holding one tenant's log with
// consent and audit entries and signed checkpoints, closes it, and returns
// its path, the tenant and its verifier key.
func pristineLedger(t *testing.T) (string, garde.TenantID, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "garde.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := app.New(db, gardetest.MasterKeys(t), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	tn := gardetest.ConsentTenant(t, svc, "Tamper SAS")
	for i := range 12 {
		if _, err := svc.Consent.RecordConsent(ctx, tn.Service, gardetest.Grant(fmt.Sprintf("s%d", i%4), "improve_replies")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Vault.Ingest(ctx, tn.Service, []vault.NewMessage{{Subject: "s1", Purpose: "answer_support_request", Text: "hello"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Trail.LedgerCheckpoint(ctx, tn.DPO); err != nil {
		t.Fatal(err)
	}
	key, err := svc.Trail.LedgerVerifierKey(ctx, tn.DPO)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := trail.VerifyLedger(ctx, db, tn.ID, key); err != nil || rep.Size < 30 || rep.Consents != 12 {
		t.Fatalf("pristine log: %+v, %v", rep, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, tn.ID, key
}

func copyFile(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "garde.db")
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestVerifyLedgerCatchesTampering changes, removes, reorders and inserts
// rows straight in the SQLite file, as someone with access to the disk
// would, and checks that verification names the first bad entry.
func TestVerifyLedgerCatchesTampering(t *testing.T) {
	ctx := context.Background()
	pristine, tenant, key := pristineLedger(t)
	tn := string(tenant)
	// Find an audit entry and a consent entry to aim at.
	raw, err := sql.Open("sqlite", pristine)
	if err != nil {
		t.Fatal(err)
	}
	var auditIdx, consentIdx, size int64
	raw.QueryRow(`SELECT min(idx) FROM ledger_leaves WHERE tenant_id = ? AND kind = 'audit' AND idx > 5`, tn).Scan(&auditIdx)
	raw.QueryRow(`SELECT min(idx) FROM ledger_leaves WHERE tenant_id = ? AND kind = 'consent' AND idx > 5`, tn).Scan(&consentIdx)
	raw.QueryRow(`SELECT size FROM ledger_heads WHERE tenant_id = ?`, tn).Scan(&size)
	raw.Close()
	if auditIdx == 0 || consentIdx == 0 {
		t.Fatalf("no entries to aim at: audit %d, consent %d", auditIdx, consentIdx)
	}

	tests := []struct {
		name  string
		sql   []string
		args  []any
		entry int64  // the entry the error must name
		want  string // and a word of its reason
	}{
		{"change a consent record", []string{`UPDATE ledger_leaves SET record = randomblob(32) WHERE tenant_id = ?1 AND idx = ?2`}, []any{tn, consentIdx}, consentIdx, "record"},
		{"change an audit content", []string{`UPDATE ledger_leaves SET content = CAST(replace(CAST(content AS TEXT), '"outcome":"ok"', '"outcome":"denied"') AS BLOB) WHERE tenant_id = ?1 AND idx = ?2`}, []any{tn, auditIdx}, auditIdx, "audit content"},
		{"remove a row", []string{`DELETE FROM ledger_leaves WHERE tenant_id = ?1 AND idx = ?2`}, []any{tn, consentIdx}, consentIdx, "missing"},
		{"reorder two rows", []string{
			`UPDATE ledger_leaves SET idx = -1 WHERE tenant_id = ?1 AND idx = ?2`,
			`UPDATE ledger_leaves SET idx = ?2 WHERE tenant_id = ?1 AND idx = ?2 + 1`,
			`UPDATE ledger_leaves SET idx = ?2 + 1 WHERE tenant_id = ?1 AND idx = -1`,
		}, []any{tn, consentIdx}, consentIdx, "record"},
		{"insert a row in the middle", []string{
			`UPDATE ledger_leaves SET idx = -idx - 1 WHERE tenant_id = ?1 AND idx >= ?2`,
			`UPDATE ledger_leaves SET idx = -idx WHERE tenant_id = ?1 AND idx < 0`,
			`INSERT INTO ledger_leaves (tenant_id, idx, kind, record, created_at) VALUES (?1, ?2, 'consent', randomblob(32), 0)`,
		}, []any{tn, consentIdx}, consentIdx, "record"},
		{"append a row at the end", []string{
			`INSERT INTO ledger_leaves (tenant_id, idx, kind, record, created_at) VALUES (?1, ?2, 'consent', randomblob(32), 0)`,
		}, []any{tn, size}, size, "missing"},
		{"append a row and move the head", []string{
			`INSERT INTO ledger_leaves (tenant_id, idx, kind, record, created_at) VALUES (?1, ?2, 'consent', randomblob(32), 0)`,
			`UPDATE ledger_heads SET size = size + 1 WHERE tenant_id = ?1`,
		}, []any{tn, size}, size, "missing"},
		{"change a stored hash", []string{`UPDATE ledger_hashes SET hash = randomblob(32) WHERE tenant_id = ?1 AND idx = ?2`}, []any{tn, tlog.StoredHashIndex(1, consentIdx/2)}, consentIdx/2*2 + 1, "stored hash"},
		{"truncate the log", []string{
			`DELETE FROM ledger_leaves WHERE tenant_id = ?1 AND idx >= ?2`,
			`UPDATE ledger_heads SET size = ?2 WHERE tenant_id = ?1`,
		}, []any{tn, consentIdx}, consentIdx, "checkpoint"},
		{"forge a checkpoint", []string{`UPDATE ledger_checkpoints SET note = CAST(replace(CAST(note AS TEXT), 'garde/', 'garde/x') AS BLOB) WHERE tenant_id = ?1 AND size = (SELECT max(size) FROM ledger_checkpoints WHERE tenant_id = ?1)`}, []any{tn}, -1, "checkpoint"},
		{"remove an audit row", []string{`DELETE FROM audit WHERE tenant_id = ?1 AND seq = (SELECT max(seq) FROM audit WHERE tenant_id = ?1)`}, []any{tn}, -1, "removed"},
		{"change an audit row", []string{`UPDATE audit SET outcome = 'denied' WHERE tenant_id = ?1 AND action = 'message.write'`}, []any{tn, auditIdx}, -1, "differs from the log"},
		{"move the head back", []string{`UPDATE ledger_heads SET size = size - 1 WHERE tenant_id = ?1`}, []any{tn}, size - 1, "head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyFile(t, pristine)
			raw, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range tt.sql {
				if _, err := raw.Exec(q, tt.args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			raw.Close()
			db, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = trail.VerifyLedger(ctx, db, tenant, key)
			if !errors.Is(err, trail.ErrLedger) {
				t.Fatalf("VerifyLedger = %v, want ErrLedger", err)
			}
			msg := err.Error()
			if tt.entry >= 0 && !strings.Contains(msg, "entry "+strconv.FormatInt(tt.entry, 10)+":") {
				t.Fatalf("VerifyLedger = %v, want it to name entry %d", err, tt.entry)
			}
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("VerifyLedger = %v, want %q in the reason", err, tt.want)
			}
		})
	}
}

// TestVerifyLedgerCatchesConsistentRewrite rewrites a leaf and every
// stored hash above it so that the tree is self-consistent: only the signed
// checkpoints can tell, and they do.
func TestVerifyLedgerCatchesConsistentRewrite(t *testing.T) {
	ctx := context.Background()
	pristine, tenant, key := pristineLedger(t)
	path := copyFile(t, pristine)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT idx, record FROM ledger_leaves WHERE tenant_id = ? ORDER BY idx`, string(tenant))
	if err != nil {
		t.Fatal(err)
	}
	var records [][]byte
	for rows.Next() {
		var idx int64
		var rec []byte
		rows.Scan(&idx, &rec)
		records = append(records, rec)
	}
	rows.Close()
	const target = 7
	forged, _ := ledger.Commit(make([]byte, 32), []byte(`{"forged":true}`))
	records[target] = forged
	var mem ledger.MemoryStore
	for _, r := range records {
		mem.Append(r)
	}
	n := tlog.StoredHashCount(int64(len(records)))
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(i)
	}
	hashes, _ := mem.ReadHashes(idx)
	tx, _ := raw.Begin()
	tx.Exec(`UPDATE ledger_leaves SET record = ? WHERE tenant_id = ? AND idx = ?`, forged, string(tenant), target)
	for i, h := range hashes {
		tx.Exec(`UPDATE ledger_hashes SET hash = ? WHERE tenant_id = ? AND idx = ?`, h[:], string(tenant), i)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = trail.VerifyLedger(ctx, db, tenant, key)
	var le *ledger.LogError
	if !errors.Is(err, ledger.ErrCheckpoint) || !errors.As(err, &le) || le.Index > target {
		t.Fatalf("VerifyLedger = %v, want ErrCheckpoint at or before entry %d", err, target)
	}
}

// TestLedgerTwoProcesses runs two OS processes appending consents to the
// same tenant's log in the same database file at once: the log never
// forks, and its size is the sum of both.
func TestLedgerTwoProcesses(t *testing.T) {
	if os.Getenv("GARDE_LEDGER_CHILD") != "" {
		ledgerChild(t)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "garde.db")
	keyFile := filepath.Join(dir, "master.key")
	mk, _, err := keyring.LoadOrCreateFile(keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := app.New(db, mk, nil)
	tn := gardetest.ConsentTenant(t, svc, "Two SAS")
	before, err := svc.Trail.LedgerCheckpoint(ctx, tn.DPO)
	if err != nil {
		t.Fatal(err)
	}
	const rounds, batch = 20, 10
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerTwoProcesses$", "-test.v")
		cmd.Env = append(os.Environ(), "GARDE_LEDGER_CHILD="+strconv.Itoa(i), "GARDE_LEDGER_DB="+path, "GARDE_LEDGER_KEYFILE="+keyFile,
			"GARDE_LEDGER_KEY="+tn.Keys["service"], "GARDE_LEDGER_ROUNDS="+strconv.Itoa(rounds), "GARDE_LEDGER_BATCH="+strconv.Itoa(batch))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	key, _ := svc.Trail.LedgerVerifierKey(ctx, tn.DPO)
	rep, err := trail.VerifyLedger(ctx, db, tn.ID, key)
	if err != nil {
		t.Fatalf("VerifyLedger = %v", err)
	}
	// Each batch appends its consents and one audit entry per subject.
	if want := before.Size + 2*rounds*batch*2; rep.Size != want || rep.Consents != 2*rounds*batch {
		t.Fatalf("log of %d entries (%d consents), want %d (%d)", rep.Size, rep.Consents, want, 2*rounds*batch)
	}
	if rep.Checkpoints < 2*rounds {
		t.Fatalf("%d checkpoints, want at least %d", rep.Checkpoints, 2*rounds)
	}
}

func ledgerChild(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, os.Getenv("GARDE_LEDGER_DB"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mk, _, err := keyring.LoadOrCreateFile(os.Getenv("GARDE_LEDGER_KEYFILE"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := app.New(db, mk, nil)
	p, err := svc.Authenticate(ctx, os.Getenv("GARDE_LEDGER_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	rounds, _ := strconv.Atoi(os.Getenv("GARDE_LEDGER_ROUNDS"))
	batch, _ := strconv.Atoi(os.Getenv("GARDE_LEDGER_BATCH"))
	me := os.Getenv("GARDE_LEDGER_CHILD")
	for r := range rounds {
		var ins []consent.ConsentInput
		for j := range batch {
			ins = append(ins, gardetest.Grant(fmt.Sprintf("p%s-%d-%d", me, r, j), "improve_replies"))
		}
		res, err := svc.Consent.RecordConsents(ctx, p, ins)
		if err != nil {
			t.Fatalf("process %s round %d: %v", me, r, err)
		}
		// Every receipt proves its leaf against the checkpoint it carries.
		for _, c := range res {
			if _, err := ledger.VerifyEvidence(c.Receipt.Evidence, mustVerifier(t, svc, ctx)); err != nil {
				t.Fatalf("process %s: receipt: %v", me, err)
			}
		}
	}
}

var childVerifier string

func mustVerifier(t *testing.T, svc *app.Service, ctx context.Context) string {
	if childVerifier == "" {
		p, err := svc.Authenticate(ctx, os.Getenv("GARDE_LEDGER_KEY"))
		if err != nil {
			t.Fatal(err)
		}
		_ = p
		// The service key may read the ledger key.
		k, err := svc.Trail.LedgerVerifierKey(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		childVerifier = k
	}
	return childVerifier
}

package rights

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/keyring"
)

// A key store backup is the one copy of garde that, with the master key,
// opens what it held, erased subjects included: it is what bounds erasure.
// So garde's own key store backups are made to end:
//
//   - each is sealed under a fresh key wrapped by the master key version
//     current when it was made, with its expiry bound into the sealing:
//     retiring that master version (garde keys rotate --retire) makes every
//     backup sealed under it unreadable, wherever its copies are;
//   - a restore refuses a backup past its expiry;
//   - a restore merges it into the live key store instead of replacing it:
//     nothing the live journal destroyed comes back, and every erasure the
//     data store recorded since (its completed erasure requests) is
//     destroyed again before anything is served.

// keyBackupMagic is the first line of a key store backup.
const keyBackupMagic = "garde key store backup v1"

// DefaultKeyBackupRetention is how long a key store backup stays
// restorable unless the operator says otherwise.
const DefaultKeyBackupRetention = 30 * 24 * time.Hour

type keyBackupHead struct {
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires"`
	MasterVersion uint32    `json:"master_version"`
	Key           string    `json:"key"` // the backup's key, wrapped under the master version
}

type keyBackupBody struct {
	TenantKeys  []keyBackupTenantKey  `json:"tenant_keys"`
	SubjectKeys []keyBackupSubjectKey `json:"subject_keys"`
	Journal     []keyBackupEntry      `json:"journal"`
}

type keyBackupTenantKey struct {
	Tenant        garde.TenantID `json:"t"`
	Kind          string         `json:"k"`
	Version       uint32         `json:"v"`
	Wrapped       []byte         `json:"w"`
	MasterVersion uint32         `json:"m"`
	CreatedAt     time.Time      `json:"at"`
}

type keyBackupSubjectKey struct {
	Tenant    garde.TenantID `json:"t"`
	Subject   string         `json:"s"`
	Wrapped   []byte         `json:"w"`
	Version   uint32         `json:"v"`
	CreatedAt time.Time      `json:"at"`
}

type keyBackupEntry struct {
	Kind    string         `json:"k"`
	Tenant  garde.TenantID `json:"t"`
	Subject string         `json:"s,omitempty"`
	Index   []byte         `json:"i,omitempty"`
	Purpose string         `json:"p,omitempty"`
	Request string         `json:"r,omitempty"`
	At      time.Time      `json:"at"`
}

func keyBackupAD(head []byte) keyring.AD {
	return keyring.AD{Field: "keystore-backup", Record: string(head)}
}

// KeyBackupInfo describes a key store backup.
type KeyBackupInfo struct {
	Created, Expires time.Time
	MasterVersion    uint32
	Tenants          int
	SubjectKeys      int
	JournalEntries   int
}

// BackupKeys writes a sealed backup of the key store that can be restored
// until retention has passed. Only the holder of the master key (the CLI)
// makes one.
func (s *Service) BackupKeys(ctx context.Context, w io.Writer, retention time.Duration) (KeyBackupInfo, error) {
	if retention <= 0 {
		return KeyBackupInfo{}, garde.Invalid("retention", "must be positive")
	}
	var tenants []garde.Tenant
	if err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		tenants, err = tx.Tenants(ctx)
		return err
	}); err != nil {
		return KeyBackupInfo{}, err
	}
	var body keyBackupBody
	for _, t := range tenants {
		tks, err := s.KeyStore.TenantKeys(ctx, t.ID)
		if err != nil {
			return KeyBackupInfo{}, err
		}
		for _, k := range tks {
			body.TenantKeys = append(body.TenantKeys, keyBackupTenantKey(k))
		}
		for after := ""; ; {
			sks, err := s.KeyStore.ListSubjectKeys(ctx, t.ID, after, 1000)
			if err != nil {
				return KeyBackupInfo{}, err
			}
			for _, k := range sks {
				body.SubjectKeys = append(body.SubjectKeys, keyBackupSubjectKey(k))
				after = k.Subject
			}
			if len(sks) < 1000 {
				break
			}
		}
	}
	journal, err := s.KeyStore.Journal(ctx, 0)
	if err != nil {
		return KeyBackupInfo{}, err
	}
	for _, e := range journal {
		body.Journal = append(body.Journal, keyBackupEntry{e.Kind, e.Tenant, e.Subject, e.Index, e.Purpose, e.Request, e.At})
	}
	plain, err := json.Marshal(body)
	if err != nil {
		return KeyBackupInfo{}, err
	}
	defer clear(plain)
	k, err := keyring.Generate()
	if err != nil {
		return KeyBackupInfo{}, err
	}
	defer clear(k[:])
	mk := s.Master.Current()
	now := s.Now().UTC()
	head := keyBackupHead{Created: now, Expires: now.Add(retention), MasterVersion: mk.Version()}
	wrapped, err := keyring.Wrap(mk, k, keyring.AD{Field: "keystore-backup-key/" + strconv.FormatInt(now.UnixNano(), 10)})
	if err != nil {
		return KeyBackupInfo{}, err
	}
	head.Key = base64.StdEncoding.EncodeToString(wrapped)
	headLine, err := json.Marshal(head)
	if err != nil {
		return KeyBackupInfo{}, err
	}
	sl, err := keyring.NewSealer(k, 1)
	if err != nil {
		return KeyBackupInfo{}, err
	}
	sealed, err := sl.Seal(plain, keyBackupAD(headLine))
	if err != nil {
		return KeyBackupInfo{}, err
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", keyBackupMagic, headLine); err != nil {
		return KeyBackupInfo{}, err
	}
	if _, err := w.Write(sealed); err != nil {
		return KeyBackupInfo{}, err
	}
	if err := s.KeyStore.Record(ctx, []garde.JournalEntry{{Kind: garde.JournalKeyBackup, Purpose: strconv.FormatUint(uint64(head.MasterVersion), 10), At: head.Expires}}); err != nil {
		return KeyBackupInfo{}, err
	}
	return KeyBackupInfo{Created: head.Created, Expires: head.Expires, MasterVersion: head.MasterVersion, Tenants: len(tenants), SubjectKeys: len(body.SubjectKeys), JournalEntries: len(body.Journal)}, nil
}

// ErrKeyBackupExpired marks a key store backup past its expiry.
var ErrKeyBackupExpired = garde.Errorf(garde.ErrForbidden, "the key store backup has expired: it can no longer be restored")

// RestoreKeys merges a key store backup into the live key store: its
// journal first (destroying again what it names), then every tenant and
// subject key the live store lacks, unless the live journal or the backup's
// destroyed it; then every erasure the data store recorded (completed or
// in-progress erasure requests) is destroyed again, and the journal is
// replayed on the data store. It refuses a backup past its expiry or sealed
// under a retired master key version.
func (s *Service) RestoreKeys(ctx context.Context, r io.Reader) (KeyBackupInfo, error) {
	br := bufio.NewReader(r)
	magic, err := br.ReadString('\n')
	if err != nil || magic != keyBackupMagic+"\n" {
		return KeyBackupInfo{}, garde.Invalid("file", "is not a garde key store backup")
	}
	headLine, err := br.ReadBytes('\n')
	if err != nil {
		return KeyBackupInfo{}, garde.Invalid("file", "is truncated")
	}
	headLine = headLine[:len(headLine)-1]
	var head keyBackupHead
	if err := json.Unmarshal(headLine, &head); err != nil {
		return KeyBackupInfo{}, garde.Invalid("file", "has a malformed header")
	}
	info := KeyBackupInfo{Created: head.Created, Expires: head.Expires, MasterVersion: head.MasterVersion}
	if !s.Now().Before(head.Expires) {
		return info, ErrKeyBackupExpired
	}
	mk, err := s.Master.Version(head.MasterVersion)
	if err != nil {
		return info, garde.Errorf(garde.ErrForbidden, "the key store backup is sealed under master key version %d, which is retired: it can no longer be opened", head.MasterVersion)
	}
	wrapped, err := base64.StdEncoding.DecodeString(head.Key)
	if err != nil {
		return info, garde.Invalid("file", "has a malformed key")
	}
	k, err := keyring.Unwrap(mk, wrapped, keyring.AD{Field: "keystore-backup-key/" + strconv.FormatInt(head.Created.UnixNano(), 10)})
	if err != nil {
		return info, garde.Invalid("file", "does not open under the master key (altered, or another deployment's)")
	}
	sl, err := keyring.NewSealer(k, 1)
	clear(k[:])
	if err != nil {
		return info, err
	}
	sealed, err := io.ReadAll(br)
	if err != nil {
		return info, err
	}
	plain, err := sl.Open(sealed, keyBackupAD(headLine))
	if err != nil {
		return info, garde.Invalid("file", "does not open under the master key (altered, or another deployment's)")
	}
	defer clear(plain)
	var body keyBackupBody
	if err := json.Unmarshal(plain, &body); err != nil {
		return info, garde.Invalid("file", "holds a malformed key store")
	}
	info.SubjectKeys, info.JournalEntries = len(body.SubjectKeys), len(body.Journal)

	// 1. The backup's journal: what it destroyed stays destroyed.
	var entries []garde.JournalEntry
	for _, e := range body.Journal {
		entries = append(entries, garde.JournalEntry{Kind: e.Kind, Tenant: e.Tenant, Subject: e.Subject, Index: e.Index, Purpose: e.Purpose, Request: e.Request, At: e.At})
	}
	if err := s.KeyStore.Record(ctx, entries); err != nil {
		return info, err
	}
	// 2. What the data store recorded since — erasures and off-boardings
	// the backup predates — goes onto the journal too.
	if err := s.reconcileDestructions(ctx); err != nil {
		return info, err
	}
	// 3. What the live journal (now holding all three) destroyed is not
	// restored.
	journal, err := s.KeyStore.Journal(ctx, 0)
	if err != nil {
		return info, err
	}
	erased, offboarded := map[[2]string]bool{}, map[garde.TenantID]bool{}
	for _, e := range journal {
		switch e.Kind {
		case garde.JournalErase:
			erased[[2]string{string(e.Tenant), e.Subject}] = true
		case garde.JournalOffboard:
			offboarded[e.Tenant] = true
		}
	}
	tenants := map[garde.TenantID]bool{}
	var tks []garde.TenantKey
	for _, k := range body.TenantKeys {
		if offboarded[k.Tenant] {
			continue
		}
		tenants[k.Tenant] = true
		live, err := s.KeyStore.TenantKeys(ctx, k.Tenant)
		if err != nil {
			return info, err
		}
		present := false
		for _, l := range live {
			present = present || (l.Kind == k.Kind && l.Version == k.Version)
		}
		if !present {
			tks = append(tks, garde.TenantKey(k))
		}
	}
	if err := s.KeyStore.AddTenantKeys(ctx, tks); err != nil {
		return info, err
	}
	byTenant := map[garde.TenantID][]garde.SubjectKey{}
	for _, k := range body.SubjectKeys {
		if !offboarded[k.Tenant] && !erased[[2]string{string(k.Tenant), k.Subject}] {
			byTenant[k.Tenant] = append(byTenant[k.Tenant], garde.SubjectKey(k))
		}
	}
	for tenant, keys := range byTenant {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.Subject
		}
		live, err := s.KeyStore.SubjectKeys(ctx, tenant, ids)
		if err != nil {
			return info, err
		}
		have := map[string]bool{}
		for _, l := range live {
			have[l.Subject] = true
		}
		var missing []garde.SubjectKey
		for _, k := range keys {
			if !have[k.Subject] {
				missing = append(missing, k)
			}
		}
		if err := s.KeyStore.AddSubjectKeys(ctx, missing); err != nil {
			return info, err
		}
	}
	info.Tenants = len(tenants)
	s.ForgetAllTenantKeys()
	_, err = s.ReplayJournal(ctx)
	return info, err
}

// reconcileDestructions journals (destroying again) what the data store
// recorded as destroyed, for a key store restored from a copy older than
// it: the key of every subject whose erasure request got past its
// decision, and every key of a tenant whose audit trail records its
// off-boarding.
func (s *Service) reconcileDestructions(ctx context.Context) error {
	var tenants []garde.Tenant
	if err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		tenants, err = tx.Tenants(ctx)
		return err
	}); err != nil {
		return err
	}
	for _, t := range tenants {
		var entries []garde.JournalEntry
		var offboarded []garde.AuditEvent
		if err := s.Store.View(ctx, func(tx garde.Tx) error {
			var err error
			offboarded, err = tx.Audit(ctx, t.ID, garde.AuditFilter{Action: garde.ActionTenantOffboard, Limit: 1})
			return err
		}); err != nil {
			return err
		}
		if len(offboarded) > 0 {
			entries = append(entries, garde.JournalEntry{Kind: garde.JournalOffboard, Tenant: t.ID, At: offboarded[0].At})
		}
		for after := ""; ; {
			var page []garde.RightsRequest
			if err := s.Store.View(ctx, func(tx garde.Tx) error {
				var err error
				page, err = tx.Requests(ctx, t.ID, garde.RequestFilter{Type: garde.RequestErasure, After: after, Limit: 500})
				return err
			}); err != nil {
				return err
			}
			for _, r := range page {
				after = r.ID
				if r.KeyDestroyedAt.IsZero() {
					continue
				}
				if subject, _ := erasedSubjectKey(r); subject != "" {
					entries = append(entries, garde.JournalEntry{Kind: garde.JournalErase, Tenant: t.ID, Subject: subject, Index: r.SubjectIndex, Request: r.ID, At: r.KeyDestroyedAt})
				}
			}
			if len(page) < 500 {
				break
			}
		}
		if len(entries) == 0 {
			continue
		}
		if err := s.KeyStore.Record(ctx, entries); err != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
	}
	return nil
}

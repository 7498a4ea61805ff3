package gardetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/trail"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/egress"
	"github.com/garde-privacy/garde/notify"
)

// RunRights is the data-subject rights part of the conformance suite.
func RunRights(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"RequestLifecycle", testRequestLifecycle},
		{"VerificationLink", testVerificationLink},
		{"ErasureEndToEnd", testErasureEndToEnd},
		{"ErasureLegalHold", testErasureLegalHold},
		{"RestrictionAndObjection", testRestrictionAndObjection},
		{"ExportAndRectify", testExportAndRectify},
		{"RetentionPurge", testRetentionPurge},
		{"AlarmsOnceAcrossNodes", testAlarmsOnce},
		{"ErasurePropagation", testErasurePropagation},
		{"EgressDeniedByDefault", testEgress},
		{"TenantOffboarding", testTenantOffboarding},
		{"ErasureJournalReplay", testJournalReplay},
		{"ErasureOnce", testErasureOnce},
		{"AuditRefsUnlinkable", testAuditRefsUnlinkable},
		{"KeyBackupExpires", testKeyBackupExpires},
		{"JournalReplaysEveryDestruction", testJournalReplaysEveryDestruction},
		{"ErasureWinsRaces", testErasureWinsRaces},
		{"ResumeUnderLease", testResumeUnderLease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

func testRights(t *testing.T, open Open) { RunRights(t, open) }

func file(t *testing.T, s *app.Service, p garde.Principal, in rights.NewRequest) rights.FiledRequest {
	t.Helper()
	f, err := s.Rights.FileRequest(context.Background(), p, in)
	if err != nil {
		t.Fatalf("FileRequest(%s) = %v", in.Type, err)
	}
	return f
}

func ingest(t *testing.T, s *app.Service, p garde.Principal, subject string, texts ...string) {
	t.Helper()
	var ms []vault.NewMessage
	for _, text := range texts {
		ms = append(ms, vault.NewMessage{Subject: subject, Purpose: "answer_support_request", Text: text, Fields: map[string]string{"user.contact.phone_number": "+33 6 12 34 56 78"}})
	}
	if _, err := s.Vault.Ingest(context.Background(), p, ms); err != nil {
		t.Fatalf("Ingest(%d messages) = %v", len(ms), err)
	}
}

func texts(t *testing.T, s *app.Service, p garde.Principal, subject string) []string {
	t.Helper()
	ms, err := s.Vault.SubjectMessages(context.Background(), p, subject, "answer_support_request")
	if err != nil {
		t.Fatalf("SubjectMessages = %v", err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func refusal(err error) string {
	var re *garde.RefusedError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

func testRequestLifecycle(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a, b := NewTenant(t, s, "A"), NewTenant(t, s, "B")
	f := file(t, s, a.DPO, rights.NewRequest{Subject: "alice", Type: garde.RequestAccess})
	r := f.Request
	if r.Status != garde.StatusInProgress || f.Token != "" {
		t.Fatalf("vouched access request: status %s, token %q; want in_progress and no token", r.Status, f.Token)
	}
	if want := time.Date(2026, 2, 28, 23, 59, 59, 999999000, time.UTC); !r.DueAt.Equal(want) || !r.ReceivedAt.Equal(epoch) {
		t.Fatalf("received %s due %s; want %s due %s", r.ReceivedAt, r.DueAt, epoch, want)
	}
	if _, err := s.Rights.Request(ctx, b.Admin, r.ID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("tenant B reads A's request: %v", err)
	}
	if _, err := s.Rights.ChangeRequest(ctx, b.Admin, r.ID, rights.RequestChange{Action: rights.ActReject, Reason: "x"}); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("tenant B changes A's request: %v", err)
	}
	if _, err := s.Rights.ChangeRequest(ctx, a.Service, r.ID, rights.RequestChange{Action: rights.ActComplete}); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("a service key completes a request: %v", err)
	}
	clk.Advance(10 * 24 * time.Hour)
	ext, err := s.Rights.ChangeRequest(ctx, a.DPO, r.ID, rights.RequestChange{Action: rights.ActExtend, Months: 2, Reason: "complex request: 40 000 messages across three systems"})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 4, 30, 23, 59, 59, 999999000, time.UTC); !ext.DueAt.Equal(want) || ext.Extension == "" {
		t.Fatalf("extended due %s (%q), want %s", ext.DueAt, ext.Extension, want)
	}
	if _, err := s.Rights.ChangeRequest(ctx, a.DPO, r.ID, rights.RequestChange{Action: rights.ActExtend, Months: 1, Reason: "again"}); !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("second extension = %v, want conflict", err)
	}
	// An extension announced after the first month is refused.
	late := file(t, s, a.DPO, rights.NewRequest{Subject: "bob", Type: garde.RequestRectification}).Request
	clk.Advance(32 * 24 * time.Hour)
	if _, err := s.Rights.ChangeRequest(ctx, a.DPO, late.ID, rights.RequestChange{Action: rights.ActExtend, Months: 1, Reason: "late"}); !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("late extension = %v, want conflict", err)
	}
	if _, err := s.Rights.ChangeRequest(ctx, a.DPO, late.ID, rights.RequestChange{Action: rights.ActReject}); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("rejection without reason = %v, want invalid", err)
	}
	rej, err := s.Rights.ChangeRequest(ctx, a.DPO, late.ID, rights.RequestChange{Action: rights.ActReject, Reason: "manifestly unfounded: repeated request (Art. 12(5))"})
	if err != nil || rej.Status != garde.StatusRejected {
		t.Fatalf("reject = %v, %v", rej.Status, err)
	}
	done, err := s.Rights.ChangeRequest(ctx, a.DPO, r.ID, rights.RequestChange{Action: rights.ActComplete})
	if err != nil || done.Status != garde.StatusCompleted || done.CompletedAt.IsZero() {
		t.Fatalf("complete = %v, %v", done.Status, err)
	}
	for _, tc := range []struct {
		f    garde.RequestFilter
		subj string
		want int
	}{
		{garde.RequestFilter{}, "", 2},
		{garde.RequestFilter{Status: garde.StatusRejected}, "", 1},
		{garde.RequestFilter{Type: garde.RequestAccess}, "", 1},
		{garde.RequestFilter{OpenOnly: true}, "", 0},
		{garde.RequestFilter{}, "alice", 1},
		{garde.RequestFilter{}, "nobody", 0},
	} {
		got, err := s.Rights.Requests(ctx, a.Admin, tc.f, tc.subj)
		if err != nil || len(got) != tc.want {
			t.Errorf("Requests(%+v, %q) = %d, %v; want %d", tc.f, tc.subj, len(got), err, tc.want)
		}
	}
	if got, _ := s.Rights.Requests(ctx, b.Admin, garde.RequestFilter{}, ""); len(got) != 0 {
		t.Fatalf("tenant B lists %d of A's requests", len(got))
	}
	if _, err := s.Rights.FileRequest(ctx, a.Admin, rights.NewRequest{Subject: "x", Type: "forget-me"}); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("unknown type = %v", err)
	}
	if _, err := s.Rights.FileRequest(ctx, a.Admin, rights.NewRequest{Subject: "x", Type: garde.RequestObjection, Purpose: "marketing"}); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("objection to a purpose outside the register = %v", err)
	}
}

func testVerificationLink(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "carol", "mon numéro a changé")
	f := file(t, s, a.Service, rights.NewRequest{Subject: "carol", Type: garde.RequestErasure})
	if f.Request.Status != garde.StatusReceived || f.Token == "" {
		t.Fatalf("request by a service key: status %s token %q; want received and a token", f.Request.Status, f.Token)
	}
	if got := texts(t, s, a.Service, "carol"); len(got) != 1 {
		t.Fatalf("before verification the data is there: %q", got)
	}
	if _, err := s.Rights.VerifyRequest(ctx, f.Token+"x"); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("wrong token = %v", err)
	}
	r, err := s.Rights.VerifyRequest(ctx, f.Token)
	if err != nil || r.Status != garde.StatusCompleted {
		t.Fatalf("VerifyRequest = %v, %v; want completed erasure", r.Status, err)
	}
	if _, err := s.Rights.VerifyRequest(ctx, f.Token); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("token used twice = %v", err)
	}
	f2 := file(t, s, a.Service, rights.NewRequest{Subject: "dave", Type: garde.RequestAccess})
	clk.Advance(rights.VerificationTTL + time.Second)
	if _, err := s.Rights.VerifyRequest(ctx, f2.Token); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("expired token = %v", err)
	}
}

func testErasureEndToEnd(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	b := NewTenant(t, s, "B")
	ingest(t, s, a.Service, "alice", "Je m'appelle Alice Martin", "ma commande 1234")
	ingest(t, s, a.Service, "bob", "Bonjour de Bob")
	ingest(t, s, b.Service, "alice", "B's Alice")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("alice", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, s, a)
	f := file(t, s, a.DPO, rights.NewRequest{Subject: "alice", Type: garde.RequestErasure})
	r := f.Request
	if r.Status != garde.StatusCompleted || r.KeyDestroyedAt.IsZero() || r.SealedSubject != nil {
		t.Fatalf("erasure: status %s, key destroyed %v, sealed subject kept %v", r.Status, r.KeyDestroyedAt, r.SealedSubject != nil)
	}
	cert, err := rights.VerifyCertificate(r.Certificate, key)
	if err != nil {
		t.Fatalf("VerifyCertificate = %v\n%s", err, r.Certificate)
	}
	if cert.Request != r.ID || cert.Purged["messages"] != 2 || cert.Purged["consents"] != 1 || len(cert.KeysDestroyed) != 1 || cert.SubjectRef != r.SubjectRef {
		t.Fatalf("certificate = %+v", cert)
	}
	if strings.Contains(string(r.Certificate), "alice") {
		t.Fatal("the certificate names the subject")
	}
	tampered := bytes.Replace(r.Certificate, []byte(`"messages":2`), []byte(`"messages":3`), 1)
	if _, err := rights.VerifyCertificate(tampered, key); !errors.Is(err, rights.ErrCertificate) {
		t.Fatalf("tampered certificate = %v", err)
	}
	other := mustKey(t, s, b)
	if _, err := rights.VerifyCertificate(r.Certificate, other); !errors.Is(err, rights.ErrCertificate) {
		t.Fatalf("certificate under B's key = %v", err)
	}
	if got := texts(t, s, a.Service, "alice"); len(got) != 0 {
		t.Fatalf("erased subject still reads %q", got)
	}
	if got := texts(t, s, a.Service, "bob"); len(got) != 1 {
		t.Fatalf("another subject lost data: %q", got)
	}
	if got := texts(t, s, b.Service, "alice"); len(got) != 1 {
		t.Fatalf("tenant B's subject of the same name lost data: %q", got)
	}
	// A late write for the erased subject is refused, and audited.
	_, err = s.Vault.Ingest(ctx, a.Service, msg("alice", "answer_support_request", "late write"))
	if refusal(err) != "subject_erased" || !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("late write = %v, want subject_erased", err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("alice", "improve_replies")); refusal(err) != "subject_erased" {
		t.Fatalf("late consent = %v, want subject_erased", err)
	}
	evs, err := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionMessageWrite})
	if err != nil || evs[len(evs)-1].Reason != "subject_erased" || evs[len(evs)-1].Outcome != garde.OutcomeDenied {
		t.Fatalf("late write not audited: %+v %v", evs, err)
	}
	// Nothing of the subject left in the store but its tombstone.
	err = st.View(ctx, func(tx garde.Tx) error {
		rs, err := tx.RequestsBySubject(ctx, a.ID, r.SubjectIndex)
		if err != nil || len(rs) != 1 {
			return errors.Join(err, errors.New("request by subject"))
		}
		if _, err := tx.SubjectByIndex(ctx, a.ID, r.SubjectIndex); !errors.Is(err, garde.ErrNotFound) {
			return errors.Join(err, errors.New("subject row survived"))
		}
		id := strings.Fields(strings.TrimPrefix(r.Outcome, "key="))[0]
		if ms, err := tx.SubjectMessages(ctx, a.ID, id, "", 10); err != nil || len(ms) != 0 {
			return errors.Join(err, errors.New("messages survived"))
		}
		if cs, err := tx.SubjectConsents(ctx, a.ID, id); err != nil || len(cs) != 0 {
			return errors.Join(err, errors.New("consents survived"))
		}
		bl, err := tx.SubjectBlocks(ctx, a.ID, [][]byte{r.SubjectIndex})
		if err != nil || len(bl) != 1 || bl[0].Kind != garde.BlockErased {
			return errors.Join(err, errors.New("tombstone missing"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := trail.VerifyLedger(ctx, st, a.ID, key); err != nil {
		t.Fatalf("ledger after erasure: %v (%+v)", err, rep)
	}
}

func testErasureLegalHold(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "erin", "litige en cours")
	if _, err := s.Rights.FileRequest(ctx, a.Service, rights.NewRequest{Subject: "erin", Type: garde.RequestErasure, LegalHold: "x"}); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("legal hold by a service key = %v", err)
	}
	r := file(t, s, a.DPO, rights.NewRequest{Subject: "erin", Type: garde.RequestErasure, LegalHold: "litigation 2026-17: evidence to keep (Art. 17(3)(e))"}).Request
	if r.Status != garde.StatusVerified || !r.KeyDestroyedAt.IsZero() {
		t.Fatalf("held erasure went ahead: %s", r.Status)
	}
	if got := texts(t, s, a.Service, "erin"); len(got) != 1 {
		t.Fatalf("held subject's data: %q", got)
	}
	r, err := s.Rights.ChangeRequest(ctx, a.DPO, r.ID, rights.RequestChange{Action: rights.ActRelease})
	if err != nil || r.Status != garde.StatusCompleted {
		t.Fatalf("release = %s, %v; want completed", r.Status, err)
	}
	if got := texts(t, s, a.Service, "erin"); len(got) != 0 {
		t.Fatalf("released erasure left %q", got)
	}
}

func testRestrictionAndObjection(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	ingest(t, s, a.Service, "frank", "avant")
	file(t, s, a.DPO, rights.NewRequest{Subject: "frank", Type: garde.RequestRestriction})
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("frank", "answer_support_request", "après")); refusal(err) != "processing_restricted" {
		t.Fatalf("write while restricted = %v", err)
	}
	if _, err := s.Vault.SubjectMessages(ctx, a.Service, "frank", "answer_support_request"); refusal(err) != "processing_restricted" {
		t.Fatalf("read while restricted = %v", err)
	}
	if err := s.Rights.LiftRestriction(ctx, a.DPO, "frank"); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, s, a.Service, "frank"); len(got) != 1 {
		t.Fatalf("restriction kept the data? %q", got)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("gina", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	file(t, s, a.DPO, rights.NewRequest{Subject: "gina", Type: garde.RequestObjection, Purpose: "improve_replies"})
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("gina", "improve_replies", "x")); refusal(err) != "objection" {
		t.Fatalf("write for the purpose objected to = %v", err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("gina", "answer_support_request", "x")); err != nil {
		t.Fatalf("write for another purpose = %v", err)
	}
}

func testExportAndRectify(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	ingest(t, s, a.Service, "hugo", "un", "deux", "trois")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("hugo", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	r := file(t, s, a.DPO, rights.NewRequest{Subject: "hugo", Type: garde.RequestPortability}).Request
	var head rights.SubjectExport
	var got []garde.MessageView
	err := s.Rights.ExportRequest(ctx, a.DPO, r.ID, func(h rights.SubjectExport) error { head = h; return nil }, func(m garde.MessageView) error { got = append(got, m); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if head.Subject != "hugo" || len(head.Purposes) == 0 || head.Purposes[0].LegalBasis == "" || len(head.Consents) != 1 || len(head.Receipts) != 1 || len(head.Requests) != 1 {
		t.Fatalf("export head = %+v", head)
	}
	var exported []string
	for _, m := range got {
		exported = append(exported, m.Text)
		if m.Fields["user.contact.phone_number"] == "" {
			t.Fatalf("exported message %s has no fields", m.ID)
		}
	}
	slices.Sort(exported)
	if !slices.Equal(exported, []string{"deux", "trois", "un"}) {
		t.Fatalf("export messages = %q", exported)
	}
	if err := consent.VerifyReceipt(head.Receipts[0], mustKey(t, s, a)); err != nil {
		t.Fatalf("exported receipt: %v", err)
	}
	if err := s.Rights.ExportRequest(ctx, a.Service, r.ID, func(rights.SubjectExport) error { return nil }, func(garde.MessageView) error { return nil }); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("export by a service key = %v", err)
	}
	b := NewTenant(t, s, "B")
	if err := s.Rights.ExportRequest(ctx, b.DPO, r.ID, func(rights.SubjectExport) error { return nil }, func(garde.MessageView) error { return nil }); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("export across tenants = %v", err)
	}
	text := "un (corrigé)"
	var un garde.MessageView
	for _, m := range got {
		if m.Text == "un" {
			un = m
		}
	}
	v, err := s.Vault.RectifyMessage(ctx, a.DPO, "hugo", un.ID, &text, map[string]string{"user.contact.phone_number": "+33 7 00 00 00 00"})
	if err != nil || v.Text != text {
		t.Fatalf("RectifyMessage = %+v, %v", v, err)
	}
	if got := texts(t, s, a.Service, "hugo"); !slices.Contains(got, text) || slices.Contains(got, "un") {
		t.Fatalf("after rectification: %q", got)
	}
	if _, err := s.Vault.RectifyMessage(ctx, b.DPO, "hugo", un.ID, &text, nil); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("rectification across tenants = %v", err)
	}
	evs, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionMessageRectify})
	if len(evs) != 1 {
		t.Fatalf("rectification audited %d times", len(evs))
	}
}

func testRetentionPurge(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "ivan", "old 1", "old 2")
	clk.Advance(300 * 24 * time.Hour)
	ingest(t, s, a.Service, "ivan", "recent")
	if n, err := s.Vault.PurgeExpired(ctx, 1); err != nil || n != 0 {
		t.Fatalf("PurgeExpired before expiry = %d, %v", n, err)
	}
	clk.Advance(66 * 24 * time.Hour) // the first two are 366 days old
	n, err := s.Vault.PurgeExpired(ctx, 1)
	if err != nil || n != 2 {
		t.Fatalf("PurgeExpired = %d, %v; want 2", n, err)
	}
	if got := texts(t, s, a.Service, "ivan"); len(got) != 1 || got[0] != "recent" {
		t.Fatalf("after purge: %q", got)
	}
	evs, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionRetentionPurge})
	if len(evs) != 2 || evs[0].Purpose != "answer_support_request" || evs[0].Count != 1 {
		t.Fatalf("purge audit = %+v", evs)
	}
}

// recorder is a webhook receiver that fails the first fail calls.
type recorder struct {
	mu     sync.Mutex
	fail   int
	calls  int
	bodies [][]byte
	hdrs   []http.Header
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.calls <= rc.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.bodies = append(rc.bodies, b)
	rc.hdrs = append(rc.hdrs, r.Header.Clone())
	w.WriteHeader(http.StatusAccepted)
}

func testAlarmsOnce(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clk := NewClock(epoch)
	mk := MasterKeys(t)
	nodes := []*app.Service{app.New(st, mk, clk), app.New(st, mk, clk), app.New(st, mk, clk)}
	a := NewTenant(t, nodes[0], "A")
	rc := &recorder{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	file(t, nodes[0], a.DPO, rights.NewRequest{Subject: "jo", Type: garde.RequestAccess})
	run := func() int {
		var total atomic.Int64
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				c := rights.RightsJobs{Node: string(rune('a' + i)), AlarmURL: hook.URL, AlarmSecret: []byte("s"), Sender: &notify.Sender{Policy: LoopbackEgress}}
				k, err := n.Rights.SendRequestAlarms(ctx, c)
				if err != nil {
					t.Error(err)
				}
				total.Add(int64(k))
			})
		}
		wg.Wait()
		return int(total.Load())
	}
	if got := run(); got != 0 {
		t.Fatalf("alarms a month ahead: %d", got)
	}
	clk.Advance(23 * 24 * time.Hour) // 5 days before the end of February
	if got := run(); got != 1 {
		t.Fatalf("due-soon alarms sent = %d, want 1", got)
	}
	if got := run(); got != 0 {
		t.Fatalf("due-soon alarm sent again: %d", got)
	}
	clk.Advance(6 * 24 * time.Hour)
	if got := run(); got != 1 {
		t.Fatalf("overdue alarms sent = %d, want 1", got)
	}
	if got := run(); got != 0 {
		t.Fatalf("overdue alarm sent again: %d", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 2 || !strings.Contains(string(rc.bodies[0]), `"request.due_soon"`) || !strings.Contains(string(rc.bodies[1]), `"request.overdue"`) {
		t.Fatalf("alarm webhooks: %q", rc.bodies)
	}
	if strings.Contains(string(rc.bodies[0]), "jo") && !strings.Contains(string(rc.bodies[0]), "dsr_") {
		t.Fatal("alarm names the subject")
	}
	if _, err := (&notify.Verifier{Secret: []byte("s")}).Verify(rc.hdrs[0], rc.bodies[0]); err != nil {
		t.Fatalf("alarm signature: %v", err)
	}
}

func testErasurePropagation(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	flaky, dead := &recorder{fail: 2}, &recorder{fail: 1000}
	fs, ds := httptest.NewServer(flaky), httptest.NewServer(dead)
	defer fs.Close()
	defer ds.Close()
	reg := strings.Replace(ExampleRegister, "recipients: [{name: Helpdesk SaaS, country: FR, role: processor}]",
		"recipients: [{name: Helpdesk SaaS, country: FR, role: processor, endpoint: '"+fs.URL+"/erase'}, {name: CRM, country: FR, role: processor, endpoint: '"+ds.URL+"'}]", 1)
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(reg)); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, a.Service, "kim", "bonjour")
	r := file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestErasure}).Request
	jobs := rights.RightsJobs{Sender: &notify.Sender{Policy: LoopbackEgress}}
	for range rights.MaxDeliveryAttempts + 2 {
		if _, err := s.Rights.SendDeliveries(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		clk.Advance(7 * time.Hour) // past the longest backoff
	}
	ds2, err := s.Rights.RequestDeliveries(ctx, a.DPO, r.ID)
	if err != nil || len(ds2) != 2 {
		t.Fatalf("deliveries = %+v, %v", ds2, err)
	}
	if d := ds2[0]; d.Recipient != "Helpdesk SaaS" || d.Status != garde.DeliveryDelivered || d.Attempts != 3 {
		t.Fatalf("flaky recipient: %+v", d)
	}
	if d := ds2[1]; d.Status != garde.DeliveryDead || d.Attempts != rights.MaxDeliveryAttempts || d.LastError != "http_503" {
		t.Fatalf("dead recipient: %+v", d)
	}
	secret, err := s.Rights.RecipientWebhookSecret(ctx, a.Admin, fs.URL+"/erase")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(secret)
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if len(flaky.bodies) != 1 {
		t.Fatalf("flaky recipient got %d notices", len(flaky.bodies))
	}
	if _, err := (&notify.Verifier{Secret: key}).Verify(flaky.hdrs[0], flaky.bodies[0]); err != nil {
		t.Fatalf("notice signature: %v", err)
	}
	var n struct{ Type, Subject, Request string }
	if err := json.Unmarshal(flaky.bodies[0], &n); err != nil || n.Type != "erasure" || n.Subject != "kim" || n.Request != r.ID {
		t.Fatalf("notice = %s", flaky.bodies[0])
	}
	cert, err := rights.VerifyCertificate(r.Certificate, mustKey(t, s, a))
	if err != nil || len(cert.Recipients) != 2 {
		t.Fatalf("certificate recipients = %v, %v", cert.Recipients, err)
	}
}

func testTenantOffboarding(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a, b := NewTenant(t, s, "A"), NewTenant(t, s, "B")
	ingest(t, s, a.Service, "lea", "un", "deux")
	ingest(t, s, a.Service, "max", "trois")
	ingest(t, s, b.Service, "lea", "B")
	key := mustKey(t, s, a)
	var heads []string
	n := 0
	cert, err := s.Rights.OffboardTenant(ctx, Operator, a.ID, func(h rights.SubjectExport) error { heads = append(heads, h.Subject); return nil }, func(garde.MessageView) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 2 || n != 3 {
		t.Fatalf("off-boarding exported %q and %d messages", heads, n)
	}
	c, err := rights.VerifyCertificate(cert, key)
	if err != nil || c.Kind != rights.CertTenantOffboarded || len(c.KeysDestroyed) != 2 {
		t.Fatalf("off-boarding certificate = %+v, %v", c, err)
	}
	if _, err := s.Vault.SubjectMessages(ctx, a.Service, "lea", "answer_support_request"); err == nil {
		t.Fatal("off-boarded tenant still reads")
	}
	if got := texts(t, s, b.Service, "lea"); len(got) != 1 {
		t.Fatalf("other tenant: %q", got)
	}
	if _, err := s.Rights.OffboardTenant(ctx, a.Admin, b.ID, nil, nil); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("off-boarding by a tenant admin = %v", err)
	}
}

// testJournalReplay plays restores. A data store restored from a backup
// taken before an erasure holds the subject's rows but never its key: it
// reads nothing even before the replay, which then purges the rows and
// puts the tombstone back. A key store restored from before the erasure
// (the key back) loses the key again at the replay.
func testJournalReplay(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "noe", "secret")
	ingest(t, s, a.Service, "ola", "kept")
	// The "backup": every subject row and message of the tenant, and
	// (for the second restore) the key store's subject keys.
	recs := map[string]garde.SubjectRecord{}
	msgs := map[string][]garde.Message{}
	err := st.View(ctx, func(tx garde.Tx) error {
		rs, err := tx.Subjects(ctx, a.ID, "", 10)
		for _, r := range rs {
			recs[r.ID] = r
			if msgs[r.ID], err = tx.SubjectMessages(ctx, a.ID, r.ID, "", 10); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil || len(recs) != 2 {
		t.Fatalf("backup: %d subjects, %v", len(recs), err)
	}
	oldKeys, _ := keys(st).ListSubjectKeys(ctx, a.ID, "", 10)
	r := file(t, s, a.DPO, rights.NewRequest{Subject: "noe", Type: garde.RequestErasure}).Request
	es, _ := keys(st).Journal(ctx, 0)
	if len(es) != 1 || es[0].Kind != garde.JournalErase || es[0].Tenant != a.ID || es[0].Request != r.ID || recs[es[0].Subject].ID == "" {
		t.Fatalf("journal = %+v", es)
	}
	victim := recs[es[0].Subject]
	restoreData := func() {
		t.Helper()
		if err := st.Update(ctx, func(tx garde.Tx) error {
			if err := tx.CreateSubject(ctx, victim); err != nil {
				return err
			}
			if err := tx.DeleteSubjectBlocks(ctx, a.ID, r.SubjectIndex, garde.BlockErased); err != nil {
				return err
			}
			return tx.InsertMessages(ctx, msgs[victim.ID])
		}); err != nil {
			t.Fatal(err)
		}
	}
	restoreData()
	if _, err := s.Vault.SubjectMessages(ctx, a.Service, "noe", "answer_support_request"); !errors.Is(err, garde.ErrSubjectErased) {
		t.Fatalf("the restored data store before the replay = %v, want ErrSubjectErased (its key is not in any data store copy)", err)
	}
	n, err := s.Rights.ReplayJournal(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ReplayJournal = %d, %v", n, err)
	}
	if got := texts(t, s, a.Service, "noe"); len(got) != 0 {
		t.Fatalf("after replay the erased subject reads %q", got)
	}
	if got := texts(t, s, a.Service, "ola"); len(got) != 1 {
		t.Fatalf("after replay another subject reads %q", got)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("noe", "answer_support_request", "x")); refusal(err) != "subject_erased" {
		t.Fatalf("after replay a write = %v", err)
	}
	if n, err := s.Rights.ReplayJournal(ctx); err != nil || n != 0 {
		t.Fatalf("second ReplayJournal = %d, %v; want 0", n, err)
	}
	// Both restored from before the erasure: the key comes back with an
	// old key store, and the replay destroys it again before any read.
	restoreData()
	for _, k := range oldKeys {
		if k.Subject == victim.ID {
			if err := keys(st).AddSubjectKeys(ctx, []garde.SubjectKey{k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := s.Rights.ReplayJournal(ctx); err != nil || n != 1 {
		t.Fatalf("ReplayJournal after a key store restore = %d, %v", n, err)
	}
	if left, _ := keys(st).SubjectKeys(ctx, a.ID, []string{victim.ID}); len(left) != 0 {
		t.Fatalf("the restored key survived the replay")
	}
	if got := texts(t, s, a.Service, "noe"); len(got) != 0 {
		t.Fatalf("after the second replay the erased subject reads %q", got)
	}
}

// testResumeUnderLease: a verified erasure left unfinished (a node died
// after a hold was released, before carrying it out) is finished by the
// next tick of the node holding the lease, and only that node works.
func testResumeUnderLease(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	clk := NewClock(epoch)
	mk := MasterKeys(t)
	n1, n2 := app.New(st, mk, clk), app.New(st, mk, clk)
	a := NewTenant(t, n1, "A")
	ingest(t, n1, a.Service, "pia", "x")
	r := file(t, n1, a.DPO, rights.NewRequest{Subject: "pia", Type: garde.RequestErasure, LegalHold: "audit in progress"}).Request
	if err := st.Update(ctx, func(tx garde.Tx) error {
		r.LegalHold = ""
		return tx.UpdateRequest(ctx, r)
	}); err != nil {
		t.Fatal(err)
	}
	var won, lost bool
	if err := st.Update(ctx, func(tx garde.Tx) error {
		var err error
		if won, err = tx.AcquireLease(ctx, "rights.work", "node-2", clk.Now(), clk.Now().Add(time.Minute)); err != nil {
			return err
		}
		lost, err = tx.AcquireLease(ctx, "rights.work", "node-1", clk.Now(), clk.Now().Add(time.Minute))
		return err
	}); err != nil || !won || lost {
		t.Fatalf("AcquireLease: node-2 %v, node-1 %v, %v; want true, false", won, lost, err)
	}
	if err := n1.Rights.RightsTick(ctx, rights.RightsJobs{Node: "node-1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := n1.Rights.Request(ctx, a.DPO, r.ID); got.Status != garde.StatusVerified {
		t.Fatalf("a node without the lease worked: %s", got.Status)
	}
	if err := n2.Rights.RightsTick(ctx, rights.RightsJobs{Node: "node-2"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := n1.Rights.Request(ctx, a.DPO, r.ID); got.Status != garde.StatusCompleted {
		t.Fatalf("after the lease holder's tick: %s", got.Status)
	}
	clk.Advance(6 * time.Minute) // node-2's lease (5 minutes from its tick) expired: node-1 takes it over
	if err := st.Update(ctx, func(tx garde.Tx) error {
		var err error
		won, err = tx.AcquireLease(ctx, "rights.work", "node-1", clk.Now(), clk.Now().Add(time.Minute))
		return err
	}); err != nil || !won {
		t.Fatalf("expired lease not taken over: %v, %v", won, err)
	}
	if got := texts(t, n2, a.Service, "pia"); len(got) != 0 {
		t.Fatalf("resumed erasure left %q", got)
	}
}

// LoopbackEgress allows the loopback receivers of the tests, explicitly,
// through the same egress policy an operator's GARDE_EGRESS_ALLOW builds:
// without it every delivery to them is refused.
var LoopbackEgress = egress.MustParse("127.0.0.1,::1")

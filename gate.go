package garde

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/register"
)

// The gate: one table of what each operation needs, and one function that
// every entry point — an API route, a dashboard page's use case, an
// OpenDSR call, a command of the command line — runs before the use case
// does its work. A use case enters the gate first (Enter); what the row
// lists beyond the permission (the purpose in the register, the subject not
// erased, not restricted, not objecting, consenting) the use case asks of
// its Pass once it knows the subjects, and the Pass runs exactly the checks
// of the row. An operation without a row cannot be entered, and a route or
// command without an operation fails TestRoutesEnterTheGate and
// TestCommandsEnterTheGate.

// Op names one operation.
type Op string

// Check is one verification the gate makes beyond the permission.
type Check uint8

// The checks. A read and a write differ in what an erasure means: a write
// for an erased subject is refused, a read finds nothing.
const (
	// CheckPurpose: the purpose named is in the tenant's register.
	CheckPurpose Check = 1 << iota
	// CheckLive: the subject was not erased (Art. 17).
	CheckLive
	// CheckUnrestricted: no restriction (Art. 18) and no objection to the
	// purpose (Art. 21).
	CheckUnrestricted
	// CheckConsent: a purpose whose legal basis is consent has the
	// subject's current grant (Art. 6(1)(a), 7).
	CheckConsent
)

// checkPermission is what the observer hears when Enter authorised.
const checkPermission Check = 0

// Rule is one row of the gate: the permission (and so the roles, from the
// one role matrix) and the checks of an operation.
type Rule struct {
	Perm   Permission
	Checks Check
	// Writes is true for an operation that stores personal data: an
	// erased subject is then refused rather than found empty.
	Writes bool
}

// The operations.
const (
	OpTenantCreate    Op = "tenant.create"
	OpTenantOffboard  Op = "tenant.offboard"
	OpKeyCreate       Op = "key.create"
	OpKeyList         Op = "key.list"
	OpKeyRevoke       Op = "key.revoke"
	OpRegisterApply   Op = "register.apply"
	OpRegisterRead    Op = "register.read"
	OpAuditRead       Op = "audit.read"
	OpMessageIngest   Op = "message.ingest"
	OpMessageRead     Op = "message.read"
	OpMessageRectify  Op = "message.rectify"
	OpNoticePublish   Op = "notice.publish"
	OpNoticeRead      Op = "notice.read"
	OpConsentRecord   Op = "consent.record"
	OpConsentRead     Op = "consent.read"
	OpConsentTrend    Op = "consent.trend"
	OpLedgerRead      Op = "ledger.read"
	OpLedgerHealth    Op = "ledger.health"
	OpRequestFile     Op = "request.file"
	OpRequestCancel   Op = "request.cancel"
	OpRequestRead     Op = "request.read"
	OpRequestChange   Op = "request.change"
	OpRequestVerify   Op = "request.verify"
	OpRestrictionLift Op = "restriction.lift"
	OpSubjectExport   Op = "subject.export"
	OpRecipientSecret Op = "recipient.secret"
	OpCallbackKey     Op = "opendsr.key"
	OpBreachWrite     Op = "breach.write"
	OpBreachRead      Op = "breach.read"
	// The command line's own operations, on the host (PermHost).
	OpServe         Op = "host.serve"
	OpOperatorKey   Op = "host.operator_key"
	OpAdminRecover  Op = "host.recover_admin"
	OpKeysRotate    Op = "host.keys_rotate"
	OpKeysBackup    Op = "host.keys_backup"
	OpKeysRestore   Op = "host.keys_restore"
	OpBackup        Op = "host.backup"
	OpRestore       Op = "host.restore"
	OpMigrate       Op = "host.migrate"
	OpLedgerEpoch   Op = "host.ledger_epoch"
	OpLedgerVerify  Op = "host.ledger_verify"
	OpOfflineVerify Op = "host.verify_file"
	OpScan          Op = "host.scan"
)

// rules is the gate's table, in one place.
var rules = map[Op]Rule{
	OpTenantCreate:   {Perm: PermTenantCreate},
	OpTenantOffboard: {Perm: PermTenantCreate},
	OpKeyCreate:      {Perm: PermKeyManage},
	OpKeyList:        {Perm: PermKeyManage},
	OpKeyRevoke:      {Perm: PermKeyManage},
	OpRegisterApply:  {Perm: PermRegisterWrite},
	OpRegisterRead:   {Perm: PermRegisterRead},
	OpAuditRead:      {Perm: PermAuditRead},
	OpMessageIngest:  {Perm: PermIngest, Checks: CheckPurpose | CheckLive | CheckUnrestricted | CheckConsent, Writes: true},
	OpMessageRead:    {Perm: PermMessageRead, Checks: CheckPurpose | CheckLive | CheckUnrestricted | CheckConsent},
	// An erased subject has nothing to rectify: not found, as for a read.
	OpMessageRectify:  {Perm: PermRequestManage, Checks: CheckPurpose, Writes: true},
	OpNoticePublish:   {Perm: PermNoticeWrite, Checks: CheckPurpose},
	OpNoticeRead:      {Perm: PermRegisterRead, Checks: CheckPurpose},
	OpConsentRecord:   {Perm: PermConsentWrite, Checks: CheckPurpose | CheckLive, Writes: true},
	OpConsentRead:     {Perm: PermConsentRead},
	OpConsentTrend:    {Perm: PermAuditRead},
	OpLedgerRead:      {Perm: PermLedgerRead},
	OpLedgerHealth:    {Perm: PermAuditRead},
	OpRequestFile:     {Perm: PermRequestFile},
	OpRequestCancel:   {Perm: PermRequestFile},
	OpRequestRead:     {Perm: PermRequestRead},
	OpRequestChange:   {Perm: PermRequestManage},
	OpRequestVerify:   {Perm: PermNone}, // the subject, holding a one-time token
	OpRestrictionLift: {Perm: PermRequestManage},
	OpSubjectExport:   {Perm: PermSubjectExport},
	OpRecipientSecret: {Perm: PermRequestManage},
	OpCallbackKey:     {Perm: PermLedgerRead},
	OpBreachWrite:     {Perm: PermBreach},
	OpBreachRead:      {Perm: PermBreach},
	OpServe:           {Perm: PermHost},
	OpOperatorKey:     {Perm: PermHost},
	OpAdminRecover:    {Perm: PermHost},
	OpKeysRotate:      {Perm: PermHost},
	OpKeysBackup:      {Perm: PermHost},
	OpKeysRestore:     {Perm: PermHost},
	OpBackup:          {Perm: PermHost},
	OpRestore:         {Perm: PermHost},
	OpMigrate:         {Perm: PermHost},
	OpLedgerEpoch:     {Perm: PermHost},
	OpLedgerVerify:    {Perm: PermHost},
	OpOfflineVerify:   {Perm: PermHost},
	OpScan:            {Perm: PermHost},
}

// Ops lists every operation, sorted.
func Ops() []Op {
	out := make([]Op, 0, len(rules))
	for op := range rules {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}

// Rule returns op's row; ok is false for an operation without one.
func (op Op) Rule() (r Rule, ok bool) {
	r, ok = rules[op]
	return r, ok
}

// Perm is the permission of op's row (PermNone without a row).
func (op Op) Perm() Permission { return rules[op].Perm }

// Roles are the roles that may run op, from the role matrix.
func (op Op) Roles() []Role { return rules[op].Perm.Roles() }

// Pass is an operation let in by the gate: it runs the row's data checks.
type Pass struct {
	op   Op
	rule Rule
}

// Enter is the gate: it refuses an operation without a row (a programming
// error, so a plain error: a 500, never a silent pass), then checks the
// principal's role and scope against the row's permission.
func Enter(p Principal, op Op) (Pass, error) {
	r, ok := rules[op]
	if !ok {
		return Pass{}, fmt.Errorf("gate: operation %q has no row in the gate's table", op)
	}
	if r.Perm != PermNone {
		if err := Authorize(p, r.Perm); err != nil {
			return Pass{}, err
		}
	}
	observe(op, checkPermission)
	return Pass{op: op, rule: r}, nil
}

// Op is the operation the pass is for.
func (g Pass) Op() Op { return g.op }

// Purpose returns the purpose id names in reg, or the refusal of a purpose
// that is not there (when the row checks purposes; otherwise nil, false).
func (g Pass) Purpose(reg *register.Register, id, field string) (*register.Purpose, error) {
	if g.rule.Checks&CheckPurpose == 0 {
		return nil, fmt.Errorf("gate: %s does not check purposes", g.op)
	}
	observe(g.op, CheckPurpose)
	pp, ok := reg.Purpose(id)
	if !ok {
		return nil, &RefusedError{Field: field, Code: "purpose_not_in_register", Detail: fmt.Sprintf("purpose %q is not in the register of processing", id)}
	}
	return pp, nil
}

// Use is one subject an operation touches, for one purpose.
type Use struct {
	Subject string // the tenant's identifier for the subject
	Purpose string
	Field   string // the input field a refusal names
}

// Blocks runs the row's erasure and restriction checks over uses: a write
// for an erased subject is refused (a read gets ErrErasedRead: there is
// nothing to read), a restricted subject is neither written nor read, and
// an objection refuses its purpose.
func (g Pass) Blocks(ctx context.Context, tx Tx, tk *TenantKeys, tenant TenantID, uses []Use) error {
	c := g.rule.Checks & (CheckLive | CheckUnrestricted)
	if c == 0 || len(uses) == 0 {
		return nil
	}
	observe(g.op, c)
	indexes := make([][]byte, len(uses))
	for i, u := range uses {
		indexes[i] = keyring.MAC(tk.Blind, []byte(u.Subject))
	}
	blocks, err := tx.SubjectBlocks(ctx, tenant, indexes)
	if err != nil || len(blocks) == 0 {
		return err
	}
	for i, u := range uses {
		for _, b := range blocks {
			if string(b.Index) != string(indexes[i]) {
				continue
			}
			switch {
			case b.Kind == BlockErased && c&CheckLive == 0:
			case b.Kind == BlockErased && g.rule.Writes:
				return &RefusedError{Field: u.Field, Code: "subject_erased", Detail: "this subject's data was erased on request (Art. 17): garde refuses new data for it"}
			case b.Kind == BlockErased:
				return ErrErasedRead
			case c&CheckUnrestricted == 0:
			case b.Kind == BlockRestricted:
				return &RefusedError{Field: u.Field, Code: "processing_restricted", Detail: "processing of this subject's data is restricted (Art. 18): it is kept but neither written nor read"}
			case b.Kind == BlockObjection && b.Purpose == u.Purpose:
				return &RefusedError{Field: u.Field, Code: "objection", Detail: fmt.Sprintf("this subject objected to processing for purpose %q (Art. 21)", b.Purpose)}
			}
		}
	}
	return nil
}

// Consent runs the row's consent check for one stored subject and purpose:
// a write for a consent purpose needs the subject's current grant; so does
// a read, unless the purpose anonymises on withdrawal (what is left is no
// longer personal data).
func (g Pass) Consent(ctx context.Context, tx Tx, tenant TenantID, subjectID string, pp *register.Purpose, field string) error {
	if g.rule.Checks&CheckConsent == 0 {
		return nil
	}
	observe(g.op, CheckConsent)
	if pp.LegalBasis != "consent" || !g.rule.Writes && pp.OnWithdrawal == "anonymize" {
		return nil
	}
	c, err := tx.LatestConsent(ctx, tenant, subjectID, pp.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil && c.Action == ConsentGrant {
		return nil
	}
	return &RefusedError{Field: field, Code: "no_consent", Detail: fmt.Sprintf("purpose %q has consent as its legal basis and this subject has no current consent for it", pp.ID)}
}

// gateObserver, when set, hears each operation entered and each check
// run: the tests that prove every route and command goes through the gate
// listen here.
var gateObserver atomic.Pointer[func(Op, Check)]

// ObserveGate makes fn hear every operation entered (with check 0) and
// every check run over at least one subject, until the returned function
// is called, which puts back the observer before it. For tests: nothing
// in garde sets it, and a request cannot.
func ObserveGate(fn func(Op, Check)) (stop func()) {
	prev := gateObserver.Swap(&fn)
	return func() { gateObserver.Store(prev) }
}

func observe(op Op, c Check) {
	if fn := gateObserver.Load(); fn != nil {
		(*fn)(op, c)
	}
}

// refuseErased refuses creating a subject whose tombstone is among the
// given blind indexes: a late write of any kind (a message, a consent)
// must not bring back someone who asked to be forgotten.
func refuseErased(ctx context.Context, tx Tx, tenant TenantID, indexes [][]byte) error {
	blocks, err := tx.SubjectBlocks(ctx, tenant, indexes)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if b.Kind == BlockErased {
			return subjectErased()
		}
	}
	return nil
}

// ErrErasedRead is checkBlocks's answer to a read of a subject whose
// erasure was decided: there is nothing to read, from the decision on,
// even in the moment before the key store destroyed the key.
var ErrErasedRead = errors.New("erasure decided")

// subjectErased refuses a write for an erased subject.
func subjectErased() *RefusedError {
	return &RefusedError{Field: "subject", Code: "subject_erased", Detail: "this subject's data was erased on request (Art. 17): garde refuses new data for it"}
}

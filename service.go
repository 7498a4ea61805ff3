package garde

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/pii"
)

// Kernel is what every capability runs on: the store and the key store,
// the master keys, the clock, the cached tenant keys and registers, the
// scanner, the gate. It is safe for concurrent use; several kernels (several
// garde nodes) may share one database.
type Kernel struct {
	Store    Store
	KeyStore KeyStore // the keys, apart from the data (keystore.go)
	Master   keyring.MasterKeys
	clock    Clock

	Mu        sync.Mutex
	Scanner   *pii.Scanner
	Keys      map[TenantID]*TenantKeys
	registers map[registerKey]*register.Register

	cps CheckpointStore // signed checkpoints and epochs, apart (package trail); under mu
}

type registerKey struct {
	tenant  TenantID
	version int
}

// NewKernel returns a Kernel. The master keys wrap every tenant key. The
// store must put the audit trail on the ledger (trail.OnLedger; app.New
// does) and come with its key store (KeyStoreProvider): a store that kept
// the keys beside the data would make erasure a promise.
func NewKernel(store Store, master keyring.MasterKeys, clock Clock) *Kernel {
	if clock == nil {
		clock = SystemClock{}
	}
	if _, ok := store.(AuditLedger); !ok {
		panic(fmt.Sprintf("garde: store %T does not put the audit trail on the ledger (wrap it with trail.OnLedger)", store))
	}
	kp, ok := store.(KeyStoreProvider)
	if !ok || kp.KeyStore() == nil {
		panic(fmt.Sprintf("garde: store %T has no key store", store))
	}
	var cps CheckpointStore
	if cp, ok := store.(CheckpointStoreProvider); ok {
		cps = cp.CheckpointStore()
	}
	return &Kernel{
		Store:     store,
		KeyStore:  kp.KeyStore(),
		cps:       cps,
		Master:    master,
		clock:     clock,
		Scanner:   newScanner(),
		Keys:      map[TenantID]*TenantKeys{},
		registers: map[registerKey]*register.Register{},
	}
}

// Now is the kernel clock's time.
func (s *Kernel) Now() time.Time { return s.clock.Now() }

// Clock returns the service's clock.
func (s *Kernel) Clock() Clock { return s.clock }

// Ready checks that the database answers.
func (s *Kernel) Ready(ctx context.Context) error { return s.Store.Ping(ctx) }

// Update runs fn in a read-write transaction, retrying a few times when two
// nodes raced to create the same row (a unique-key conflict), which the
// second attempt then finds.
func (s *Kernel) Update(ctx context.Context, fn func(Tx) error) error {
	var err error
	for range 3 {
		err = s.Store.Update(ctx, fn)
		if !errors.Is(err, ErrRetry) {
			return err
		}
	}
	return err
}

// ErrRetry marks a conflict worth one more attempt.
var ErrRetry = errors.New("retry")

// CurrentRegister returns the tenant's latest register, parsed once per
// version and cached: versions are immutable.
func (s *Kernel) CurrentRegister(ctx context.Context, tx Tx, tenant TenantID) (*register.Register, int, error) {
	v, err := tx.RegisterVersionNumber(ctx, tenant)
	if err != nil {
		return nil, 0, err
	}
	if v == 0 {
		return nil, 0, Errorf(ErrForbidden, "no register of processing has been applied for this tenant: apply one first (PUT /v1/register)")
	}
	k := registerKey{tenant, v}
	s.Mu.Lock()
	r := s.registers[k]
	s.Mu.Unlock()
	if r != nil {
		return r, v, nil
	}
	rv, err := tx.Register(ctx, tenant, v)
	if err != nil {
		return nil, 0, err
	}
	r, err = rv.Parse()
	if err != nil {
		return nil, 0, fmt.Errorf("current register: %w", err)
	}
	s.Mu.Lock()
	s.registers[k] = r
	s.Mu.Unlock()
	return r, v, nil
}

// SetCheckpointStore sets where signed checkpoints and epochs are kept
// outside the data store. Without one, signing works but a restored
// backup can make garde sign a second tree of a size already signed.
func (s *Kernel) SetCheckpointStore(cs CheckpointStore) {
	s.Mu.Lock()
	s.cps = cs
	s.Mu.Unlock()
}

func (s *Kernel) CheckpointStore() CheckpointStore {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.cps
}

// Scrubber is a store that can wipe what its write-ahead log still holds
// of deleted rows (package sqlite). Erasure calls it once done.
type Scrubber interface {
	Scrub(ctx context.Context) error
}

// ScrubDeleted asks the data store to wipe what it still holds of deleted
// rows (after an erasure or a replay), best effort.
func (s *Kernel) ScrubDeleted(ctx context.Context) {
	st := s.Store.(AuditLedger).Unwrap()
	if sc, ok := st.(Scrubber); ok {
		_ = sc.Scrub(ctx) // best effort: the next checkpoint does it anyway
	}
}

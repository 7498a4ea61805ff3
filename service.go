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

// Service runs garde's use cases over a Store. It is safe for concurrent
// use; several Services (several garde nodes) may share one database.
type Service struct {
	store    Store
	keyStore KeyStore // the keys, apart from the data (keystore.go)
	master   keyring.MasterKeys
	clock    Clock

	mu        sync.Mutex
	scanner   *pii.Scanner
	keys      map[TenantID]*tenantKeys
	registers map[registerKey]*register.Register

	ingests  groupQueue[NewMessage, MessageView]     // group commit of single messages (message.go)
	consents groupQueue[ConsentInput, ConsentResult] // group commit of single consent events (consent.go)
	cps      CheckpointStore                         // signed checkpoints and epochs, apart (epoch.go); under mu
}

type registerKey struct {
	tenant  TenantID
	version int
}

// NewService returns a Service. The master keys wrap every tenant key. The
// store must come with its key store (KeyStoreProvider): a store that kept
// the keys beside the data would make erasure a promise.
func NewService(store Store, master keyring.MasterKeys, clock Clock) *Service {
	if clock == nil {
		clock = SystemClock{}
	}
	kp, ok := store.(KeyStoreProvider)
	if !ok {
		panic(fmt.Sprintf("garde: store %T has no key store", store))
	}
	var cps CheckpointStore
	if cp, ok := store.(CheckpointStoreProvider); ok {
		cps = cp.CheckpointStore()
	}
	return &Service{
		store:     ledgerStore{store}, // audit events go onto the ledger
		keyStore:  kp.KeyStore(),
		cps:       cps,
		master:    master,
		clock:     clock,
		scanner:   newScanner(),
		keys:      map[TenantID]*tenantKeys{},
		registers: map[registerKey]*register.Register{},
	}
}

// now is the service clock's time.
func (s *Service) now() time.Time { return s.clock.Now() }

// Clock returns the service's clock.
func (s *Service) Clock() Clock { return s.clock }

// Ready checks that the database answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// update runs fn in a read-write transaction, retrying a few times when two
// nodes raced to create the same row (a unique-key conflict), which the
// second attempt then finds.
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	var err error
	for range 3 {
		err = s.store.Update(ctx, fn)
		if !errors.Is(err, errRetry) {
			return err
		}
	}
	return err
}

// errRetry marks a conflict worth one more attempt.
var errRetry = errors.New("retry")

// currentRegister returns the tenant's latest register, parsed once per
// version and cached: versions are immutable.
func (s *Service) currentRegister(ctx context.Context, tx Tx, tenant TenantID) (*register.Register, int, error) {
	v, err := tx.RegisterVersionNumber(ctx, tenant)
	if err != nil {
		return nil, 0, err
	}
	if v == 0 {
		return nil, 0, Errorf(ErrForbidden, "no register of processing has been applied for this tenant: apply one first (PUT /v1/register)")
	}
	k := registerKey{tenant, v}
	s.mu.Lock()
	r := s.registers[k]
	s.mu.Unlock()
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
	s.mu.Lock()
	s.registers[k] = r
	s.mu.Unlock()
	return r, v, nil
}

// SetCheckpointStore sets where signed checkpoints and epochs are kept
// outside the data store. Without one, signing works but a restored
// backup can make garde sign a second tree of a size already signed.
func (s *Service) SetCheckpointStore(cs CheckpointStore) {
	s.mu.Lock()
	s.cps = cs
	s.mu.Unlock()
}

func (s *Service) checkpointStore() CheckpointStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cps
}

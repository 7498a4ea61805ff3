package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"
)

// Art30 generates the Art. 30 record from version v of the caller's
// register (0: the current one), reading the versions before it for the
// activities' dates.
func (s *Service) Art30(ctx context.Context, p garde.Principal, v int) (register.Art30Record, error) {
	rv, err := s.Register(ctx, p, v)
	if err != nil {
		return register.Art30Record{}, err
	}
	var history []register.Applied
	for i := 1; i <= rv.Version; i++ {
		old := rv
		if i != rv.Version {
			if old, err = s.Register(ctx, p, i); err != nil {
				if errors.Is(err, garde.ErrNotFound) {
					continue
				}
				return register.Art30Record{}, err
			}
		}
		r, err := old.Parse()
		if err != nil {
			if i == rv.Version {
				return register.Art30Record{}, fmt.Errorf("art. 30 record: %w", err)
			}
			continue
		}
		history = append(history, register.Applied{Version: old.Version, AppliedAt: old.AppliedAt, Register: r})
	}
	return register.NewArt30(history), nil
}

// DiffRegister compares versions from and to of the caller's register.
func (s *Service) DiffRegister(ctx context.Context, p garde.Principal, from, to int) (register.Diff, error) {
	a, err := s.Register(ctx, p, from)
	if err != nil {
		return register.Diff{}, err
	}
	b, err := s.Register(ctx, p, to)
	if err != nil {
		return register.Diff{}, err
	}
	return register.NewDiff(a.Version, b.Version, a.Source, b.Source), nil
}

package garde

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/garde-privacy/garde/register"
)

// RegisterVersion is one applied version of a tenant's register.
type RegisterVersion struct {
	Version   int
	AppliedAt time.Time
	AppliedBy string
	// Document is the register as canonical JSON.
	Document []byte
	// Source is the text as it was applied (YAML or JSON).
	Source []byte
}

// Parse decodes the stored document.
func (rv RegisterVersion) Parse() (*register.Register, error) {
	var r register.Register
	if err := json.Unmarshal(rv.Document, &r); err != nil {
		return nil, fmt.Errorf("register version %d: %w", rv.Version, err)
	}
	return &r, nil
}

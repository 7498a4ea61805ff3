package garde

import (
	"context"
	"errors"
	"fmt"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/register"
)

// hasConsent reports whether the subject's latest consent event for the
// purpose is a grant.
func HasConsent(ctx context.Context, tx Tx, tenant TenantID, subjectID, purpose string) (bool, error) {
	c, err := tx.LatestConsent(ctx, tenant, subjectID, purpose)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Action == ConsentGrant, nil
}

// noConsent is the refusal of a write or read that needs a current consent.
func NoConsent(field string, pp *register.Purpose) *RefusedError {
	return &RefusedError{Field: field, Code: "no_consent", Detail: fmt.Sprintf("purpose %q has consent as its legal basis and this subject has no current consent for it", pp.ID)}
}

// checkReadConsent refuses reading a subject's messages for a consent
// purpose without a current grant, unless the purpose anonymises on
// withdrawal (what is left is no longer personal data).
func CheckReadConsent(ctx context.Context, tx Tx, tenant TenantID, pp *register.Purpose, subjectID string) error {
	if pp.LegalBasis != "consent" || pp.OnWithdrawal == "anonymize" {
		return nil
	}
	ok, err := HasConsent(ctx, tx, tenant, subjectID, pp.ID)
	if err != nil {
		return err
	}
	if !ok {
		return NoConsent("purpose", pp)
	}
	return nil
}

// checkBlocks refuses processing a block forbids: a write for an erased
// subject (its tombstone; a read finds nothing anyway), any write or read
// for a restricted one, and any for the purpose a subject objected to.
// subjects and purposes run in parallel. The refusal names the field; the
// caller audits it.
func CheckBlocks(ctx context.Context, tx Tx, tk *TenantKeys, tenant TenantID, write bool, subjects, purposes, fields []string) error {
	indexes := make([][]byte, len(subjects))
	for i, sub := range subjects {
		indexes[i] = keyring.MAC(tk.Blind, []byte(sub))
	}
	blocks, err := tx.SubjectBlocks(ctx, tenant, indexes)
	if err != nil || len(blocks) == 0 {
		return err
	}
	for i := range subjects {
		for _, b := range blocks {
			if string(b.Index) != string(indexes[i]) {
				continue
			}
			switch {
			case b.Kind == BlockErased && write:
				return &RefusedError{Field: fields[i], Code: "subject_erased", Detail: "this subject's data was erased on request (Art. 17): garde refuses new data for it"}
			case b.Kind == BlockErased:
				return ErrErasedRead
			case b.Kind == BlockRestricted:
				return &RefusedError{Field: fields[i], Code: "processing_restricted", Detail: "processing of this subject's data is restricted (Art. 18): it is kept but neither written nor read"}
			case b.Kind == BlockObjection && b.Purpose == purposes[i]:
				return &RefusedError{Field: fields[i], Code: "objection", Detail: fmt.Sprintf("this subject objected to processing for purpose %q (Art. 21)", b.Purpose)}
			}
		}
	}
	return nil
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

// errErasedRead is checkBlocks's answer to a read of a subject whose
// erasure was decided: there is nothing to read, from the decision on,
// even in the moment before the key store destroyed the key.
var ErrErasedRead = errors.New("erasure decided")

// subjectErased refuses a write for an erased subject.
func subjectErased() *RefusedError {
	return &RefusedError{Field: "subject", Code: "subject_erased", Detail: "this subject's data was erased on request (Art. 17): garde refuses new data for it"}
}

package ledger_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/garde-privacy/garde/ledger"
)

// The life of a consent event: commit, append, sign a checkpoint, hand out evidence, and
// check it offline with nothing but the evidence and the tenant's verifier key.
func Example() {
	origin := ledger.TenantOrigin("t-0001")
	signerKey, verifierKey, err := ledger.GenerateKey(origin) // signerKey goes into the keyring
	if err != nil {
		log.Fatal(err)
	}
	store := new(ledger.MemoryStore) // a database in production

	var receipt []byte
	for i, content := range []string{`{"action":"grant"}`, `{"action":"withdraw"}`, `{"action":"grant"}`} {
		salt, _ := ledger.NewSalt() // sealed with the content, under the subject key
		record, _ := ledger.Commit(salt, []byte(content))
		n, _ := store.Append(record)
		c, _ := ledger.NewCheckpoint(origin, n+1, store)
		signed, _ := ledger.SignCheckpoint(c, signerKey)
		if i == 1 {
			e, _ := ledger.NewEvidence(n, salt, []byte(content), signed, store)
			receipt, _ = json.Marshal(e)
		}
	}

	// Later, offline, on the person's machine.
	var e ledger.Evidence
	if err := json.Unmarshal(receipt, &e); err != nil {
		fmt.Println(err)
		return
	}
	c, err := ledger.VerifyEvidence(e, verifierKey)
	fmt.Println(c.Origin, c.Size, e.Index, err)
	// Output: garde/t-0001 2 1 <nil>
}

package garde

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// idEncoding is lower-case Crockford-style base32 without padding: ids are
// case-insensitive-safe, URL-safe and sort like the bytes they encode.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix + a 128-bit identifier whose first 48 bits are the
// time in milliseconds, so that rows inserted together sit together in the
// B-tree, and whose last 80 bits are random.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("garde: crypto/rand failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// randomString returns n random bytes in idEncoding.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("garde: crypto/rand failed: " + err.Error())
	}
	return idEncoding.EncodeToString(b)
}

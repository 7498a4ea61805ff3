package pii

import (
	"sync/atomic"

	"github.com/nyaruka/phonenumbers"
)

// Phone numbers are validated with libphonenumber's metadata, but a call
// costs 3–8 µs and about twenty allocations (it runs a dozen regular
// expressions), which made it a third of the scan time on a dense chat
// corpus. Validity in the French, North American and British plans is,
// however, decided by the first few digits of the national number and its
// length: measured on random numbers, no French 3-digit block, and fewer
// than 1% of North American and British 4-digit blocks, mixes valid and
// invalid numbers (TestPhonePlanBlocks). So the answer for a block is asked
// of libphonenumber once, with the first number seen in it, and kept in a
// fixed table: a compiled copy of the plan filled on demand, not a cache of
// inputs, bounded at 30 000 entries.
type planTable struct {
	cells []atomic.Uint32 // 0 unknown, 1 invalid, 2 valid
}

var (
	frPlan   = planTable{cells: make([]atomic.Uint32, 1000)}
	nanpPlan = planTable{cells: make([]atomic.Uint32, 10000)}
	gbPlan   = planTable{cells: make([]atomic.Uint32, 20000)}
)

func (p *planTable) valid(idx int, cc int32, n []byte) bool {
	switch p.cells[idx].Load() {
	case 1:
		return false
	case 2:
		return true
	}
	v := validNumber(cc, n, false, "")
	if v {
		p.cells[idx].Store(2)
	} else {
		p.cells[idx].Store(1)
	}
	return v
}

// frValid checks a French national significant number (nine digits after
// the trunk 0 or +33).
func frValid(n []byte) bool {
	if len(n) != 9 || n[0] == '0' {
		return false
	}
	return frPlan.valid(atoi(n[:3]), 33, n)
}

// nanpValid checks a ten-digit North American number.
func nanpValid(n []byte) bool {
	if len(n) != 10 || n[0] < '2' || n[3] < '2' {
		return false
	}
	return nanpPlan.valid(atoi(n[:4]), 1, n)
}

// gbValid checks a British national significant number (nine or ten digits
// after the trunk 0 or +44).
func gbValid(n []byte) bool {
	if (len(n) != 10 && len(n) != 9) || n[0] == '0' {
		return false
	}
	idx := atoi(n[:4])
	if len(n) == 9 {
		idx += 10000
	}
	return gbPlan.valid(idx, 44, n)
}

// validNumber asks libphonenumber whether the national significant number
// n is valid under country code cc (for region, or for any region of the
// code when region is empty). Building the number directly skips Parse and
// its regular expressions.
func validNumber(cc int32, n []byte, italianZero bool, region string) bool {
	nn := uint64(atoi(n))
	num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
	if italianZero {
		num.ItalianLeadingZero = &italianZero
		zeros := int32(0)
		for _, c := range n {
			if c != '0' {
				break
			}
			zeros++
		}
		if zeros > 1 {
			num.NumberOfLeadingZeros = &zeros
		}
	}
	if region == "" {
		return phonenumbers.IsValidNumber(num)
	}
	return phonenumbers.IsValidNumberForRegion(num, region)
}

func atoi(d []byte) int {
	v := 0
	for _, c := range d {
		v = v*10 + int(c-'0')
	}
	return v
}

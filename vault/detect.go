package vault

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/pii"
)

// operatorFor chooses what happens to personal data of category c found in
// free text collected for purpose p: the purpose's most specific anonymize
// rule covering c; otherwise keep it if the purpose lists the category;
// otherwise replace it — the safe default for data the purpose does not
// need (privacy by default, Art. 25(2)).
func operatorFor(p *register.Purpose, c string) string {
	best, op := -1, ""
	for rule, o := range p.Anonymize {
		if register.Covers(rule, c) && len(rule) > best {
			best, op = len(rule), o
		}
	}
	if op != "" {
		return op
	}
	if p.Allows(c) {
		return string(pii.Keep)
	}
	return string(pii.Replace)
}

// protectText finds personal data in text and anonymises it as purpose p
// says. It returns the text to store, the sealed span record (nil when
// nothing was found), and what was found for the response.
func (s *Service) protectText(p *register.Purpose, tk *garde.TenantKeys, sealer *keyring.Sealer, ad keyring.AD, text string) (string, []byte, []garde.Detection, []string, error) {
	if s.Scanner == nil || text == "" {
		return text, nil, nil, nil, nil
	}
	buf := entityBufs.Get().(*[]pii.Entity)
	defer entityBufs.Put(buf)
	var hints pii.Special
	*buf, hints = s.Scanner.AppendScanMessage((*buf)[:0], text)
	res := pii.Result{Entities: *buf, Special: hints}
	var special []string
	if res.Special != 0 {
		special = res.Special.Categories()
	}
	if len(res.Entities) == 0 && len(special) == 0 {
		return text, nil, nil, nil, nil
	}
	n := 0
	policy := func(entityType string) pii.OperatorSpec {
		spec := pii.OperatorSpec{Operator: pii.Operator(operatorFor(p, pii.Category(entityType)))}
		switch spec.Operator {
		case pii.Mask:
			spec.KeepLast = 4
		case pii.Pseudonymize:
			spec.Key = tk.Pseudo[:]
		case pii.Encrypt:
			spec.Seal = func(b []byte) ([]byte, error) {
				spanAD := ad
				spanAD.Field = "span/" + strconv.Itoa(n)
				n++
				return sealer.Seal(b, spanAD)
			}
		}
		return spec
	}
	out, spans, err := pii.Anonymize(text, res.Entities, policy)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("anonymise: %w", err)
	}
	offsets := pii.RuneOffsetsAll(nil, text, res.Entities)
	found := make([]garde.Detection, len(res.Entities))
	rec := garde.SpanRecord{Special: special, Spans: make([]garde.StoredSpan, len(spans))}
	for i, e := range res.Entities {
		found[i] = garde.Detection{Type: e.Type, Category: pii.Category(e.Type), RuneStart: offsets[2*i], RuneEnd: offsets[2*i+1], Score: e.Score}
	}
	for i, sp := range spans {
		rec.Spans[i] = garde.StoredSpan{Type: sp.Type, Category: pii.Category(sp.Type), Start: sp.Start, End: sp.End,
			OrigStart: sp.OrigStart, OrigEnd: sp.OrigEnd, Operator: string(sp.Operator), Sealed: sp.Sealed}
		for j := range found {
			if res.Entities[j].Start == sp.OrigStart && res.Entities[j].End == sp.OrigEnd {
				found[j].Operator = string(sp.Operator)
			}
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", nil, nil, nil, err
	}
	spanAD := ad
	spanAD.Field = "spans"
	sealed, err := sealer.Seal(b, spanAD)
	if err != nil {
		return "", nil, nil, nil, err
	}
	return out, sealed, found, special, nil
}

// entityBufs recycles detection results between messages: scanning into
// a reused slice allocates nothing (see pii.AppendScanMessage).
var entityBufs = sync.Pool{New: func() any { return new([]pii.Entity) }}

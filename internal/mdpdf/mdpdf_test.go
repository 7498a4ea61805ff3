package mdpdf

import (
	"bytes"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	md := "# Notification d'une violation\n\nArticle 33 du RGPD.\n\n## Point de contact\n\n- **Délégué à la protection des données\u00a0:** Camille Durand, dpo@example.com\n"
	opts := Options{Title: "Notification", Created: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	out, err := Render(md, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("%PDF-")) {
		t.Fatalf("output starts with %q, want %%PDF-", out[:min(8, len(out))])
	}
	for _, want := range []string{"(Notification d'une violation)", "Camille Durand, dpo@example.com", "(Point de contact)"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("PDF lacks the text %q", want)
		}
	}
	// cp1252: é is one byte, 0xE9.
	if !bytes.Contains(out, []byte("D\xe9l\xe9gu\xe9")) {
		t.Errorf("PDF lacks Délégué in cp1252")
	}
	again, _ := Render(md, opts)
	if !bytes.Equal(out, again) {
		t.Errorf("two renders with the same creation date differ")
	}
}

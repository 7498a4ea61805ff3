// Package notice serves a breach's notice draft as a download, for the
// JSON API and the dashboard alike (one handler body, two routes).
package notice

import (
	"net/http"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/internal/mdpdf"
)

// Serve writes the draft of breach id's notice of kind (controller,
// authority, subjects) as p may read it: Markdown, or PDF with
// ?format=pdf; ?lang= and ?tenant= are passed to the use case.
func Serve(w http.ResponseWriter, r *http.Request, svc *app.Service, p garde.Principal, id, kind string) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "md"
	}
	if format != "md" && format != "pdf" {
		return garde.Invalid("format", "must be md or pdf")
	}
	n, err := svc.Breach.BreachNotice(r.Context(), p, id, kind, q.Get("lang"), garde.TenantID(q.Get("tenant")))
	if err != nil {
		return err
	}
	name := id + "-" + n.Kind + "." + n.Lang + "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "md" {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(n.Markdown))
		return err
	}
	pdf, err := mdpdf.Render(n.Markdown, mdpdf.Options{Title: n.Title, Author: "garde", Created: svc.Clock().Now()})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(pdf)
	return err
}

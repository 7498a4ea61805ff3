// Package mdpdf renders the small Markdown subset of garde's notices
// (headings, paragraphs, bullet lists, **bold**) as an A4 PDF, with
// github.com/go-pdf/fpdf and its core fonts. Text is encoded in cp1252,
// which covers French and English.
package mdpdf

import (
	"bytes"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// Options set the document's metadata.
type Options struct {
	Title   string
	Author  string
	Created time.Time // fixed for reproducible output; zero: now
}

const (
	margin = 20.0
	line   = 5.5
)

// Render converts md to PDF. Streams are left uncompressed: notices are
// small, and their text stays searchable with plain tools.
func Render(md string, opts Options) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(false)
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	// Sorted catalog and fixed dates: the same notice renders to the same bytes.
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetTitle(opts.Title, true)
	pdf.SetAuthor(opts.Author, true)
	pdf.SetCreator("garde", true)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin)
	pdf.AliasNbPages("")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(0, 5, tr(opts.Title)+"  -  {nb}", "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	inline := func(text string, size float64) {
		for i, seg := range strings.Split(text, "**") {
			style := ""
			if i%2 == 1 {
				style = "B"
			}
			pdf.SetFont("Helvetica", style, size)
			pdf.Write(line, tr(seg))
		}
		pdf.Ln(line)
	}
	for _, block := range strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(block) == "":
			pdf.Ln(2)
		case strings.HasPrefix(block, "# "):
			pdf.SetFont("Helvetica", "B", 15)
			pdf.MultiCell(0, 7, tr(strings.TrimPrefix(block, "# ")), "", "L", false)
			pdf.Ln(2)
		case strings.HasPrefix(block, "## "):
			pdf.Ln(2)
			pdf.SetFont("Helvetica", "B", 12)
			pdf.MultiCell(0, 6, tr(strings.TrimPrefix(block, "## ")), "", "L", false)
		case strings.HasPrefix(block, "- "):
			pdf.SetFont("Helvetica", "", 10)
			pdf.SetX(margin + 2)
			pdf.Write(line, tr("•"))
			pdf.SetLeftMargin(margin + 7)
			pdf.SetX(margin + 7)
			inline(strings.TrimPrefix(block, "- "), 10)
			pdf.SetLeftMargin(margin)
		default:
			inline(block, 10)
		}
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

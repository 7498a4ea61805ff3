package dashboard

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/internal/mdpdf"
	"github.com/xuri/excelize/v2"
)

// The Art. 30 record in the layout of the CNIL's model register
// ("registre des activités de traitement"): a sheet for the organisation
// (controller, DPO), one line per processing activity with the columns of
// the CNIL's "fiche de registre", and the processor's record of Art. 30(2)
// for the tenant. Column names are in the page's language; French follows
// the CNIL's wording.

// art30Columns are the controller record's columns, in the CNIL's order.
func art30Columns(l messages) []string {
	keys := []string{"art30.ref", "art30.name", "art30.created", "art30.updated", "art30.controller", "art30.dpo",
		"art30.purpose", "art30.basis", "art30.subjects", "art30.data", "art30.sensitive", "art30.retention",
		"art30.recipients", "art30.transfers", "art30.security"}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = l.T(k)
	}
	return out
}

func partyText(p register.Party) string {
	var parts []string
	for _, s := range []string{p.Name, p.Address, p.Contact, p.Email, p.Phone} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func dateText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func art30Rows(rec register.Art30Record) [][]string {
	var rows [][]string
	for _, a := range rec.Activities {
		rows = append(rows, []string{a.Ref, a.Name, dateText(a.CreatedAt), dateText(a.UpdatedAt), partyText(rec.Controller), partyText(rec.DPO),
			a.Purpose, a.LegalBasis, strings.Join(a.SubjectCategories, "; "), strings.Join(a.DataCategories, "; "),
			strings.Join(a.Sensitive, "; "), a.Retention, strings.Join(a.Recipients, "; "), strings.Join(a.Transfers, "; "),
			strings.Join(a.Security, "; ")})
	}
	return rows
}

func processorRows(rec register.Art30Record, l messages) [][]string {
	pr := rec.Processor
	return [][]string{
		{l.T("art30.p.processor"), partyText(pr.Processor)},
		{l.T("art30.p.controller"), partyText(pr.Controller)},
		{l.T("art30.dpo"), partyText(pr.DPO)},
		{l.T("art30.p.categories"), strings.Join(pr.Categories, "; ")},
		{l.T("art30.p.subprocessors"), strings.Join(pr.SubProcessors, "; ")},
		{l.T("art30.transfers"), strings.Join(pr.Transfers, "; ")},
		{l.T("art30.security"), strings.Join(pr.Security, "; ")},
	}
}

// operatorParty names the processor in the Art. 30(2) record.
func (d *Dashboard) operatorParty() register.Party {
	return register.Party{Name: "garde operator (this deployment)"}
}

func (d *Dashboard) art30(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	format := r.PathValue("format")
	if format != "csv" && format != "xlsx" && format != "pdf" {
		return garde.Errorf(garde.ErrNotFound, "no such format: csv, xlsx or pdf")
	}
	v, _ := strconv.Atoi(r.URL.Query().Get("version"))
	rec, err := d.svc.Tenancy.Art30(r.Context(), pg.Principal, v)
	if err != nil {
		return err
	}
	rec.Processor.Processor = d.operatorParty()
	name := fmt.Sprintf("art30-%s-v%d.%s", pg.Principal.Tenant, rec.Version, format)
	var body []byte
	var ct string
	switch format {
	case "csv":
		body, err = art30CSV(rec, pg.L)
		ct = "text/csv; charset=utf-8"
	case "xlsx":
		body, err = art30XLSX(rec, pg.L)
		ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case "pdf":
		body, err = mdpdf.Render(art30Markdown(rec, pg.L), mdpdf.Options{Title: pg.L.T("art30.title"), Author: "garde", Created: pg.Now})
		ct = "application/pdf"
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err = w.Write(body)
	return err
}

// art30CSV writes the controller record, a blank line, then the
// processor record as field/value lines.
func art30CSV(rec register.Art30Record, l messages) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("\ufeff") // spreadsheets then read UTF-8
	cw := csv.NewWriter(&b)
	cw.Write([]string{l.T("art30.title"), fmt.Sprintf("v%d", rec.Version), dateText(rec.AppliedAt)})
	cw.Write(art30Columns(l))
	cw.WriteAll(art30Rows(rec))
	cw.Write(nil)
	cw.Write([]string{l.T("art30.p.title")})
	cw.WriteAll(processorRows(rec, l))
	cw.Flush()
	return b.Bytes(), cw.Error()
}

// Sheet names of the spreadsheet, fixed so that tools can find them.
const (
	SheetOrganisation = "Organisation"
	SheetActivities   = "Activities"
	SheetProcessor    = "Processor"
)

func art30XLSX(rec register.Art30Record, l messages) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	f.SetSheetName("Sheet1", SheetOrganisation)
	f.NewSheet(SheetActivities)
	f.NewSheet(SheetProcessor)
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Color: []string{"DDE7F0"}, Pattern: 1},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		return nil, err
	}
	wrap, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		return nil, err
	}
	set := func(sheet string, row int, vals []string) error {
		cell, _ := excelize.CoordinatesToCellName(1, row)
		v := make([]any, len(vals))
		for i, s := range vals {
			v[i] = s
		}
		return f.SetSheetRow(sheet, cell, &v)
	}
	org := [][]string{
		{l.T("art30.title"), fmt.Sprintf("v%d", rec.Version)},
		{l.T("art30.applied"), dateText(rec.AppliedAt)},
		{l.T("art30.controller"), partyText(rec.Controller)},
		{l.T("art30.dpo"), partyText(rec.DPO)},
		{l.T("art30.region"), rec.Region},
	}
	for i, row := range org {
		if err := set(SheetOrganisation, i+1, row); err != nil {
			return nil, err
		}
	}
	f.SetCellStyle(SheetOrganisation, "A1", fmt.Sprintf("A%d", len(org)), bold)
	f.SetColWidth(SheetOrganisation, "A", "A", 32)
	f.SetColWidth(SheetOrganisation, "B", "B", 70)

	cols := art30Columns(l)
	if err := set(SheetActivities, 1, cols); err != nil {
		return nil, err
	}
	rows := art30Rows(rec)
	for i, row := range rows {
		if err := set(SheetActivities, i+2, row); err != nil {
			return nil, err
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(cols), 1)
	f.SetCellStyle(SheetActivities, "A1", last, bold)
	if len(rows) > 0 {
		end, _ := excelize.CoordinatesToCellName(len(cols), len(rows)+1)
		f.SetCellStyle(SheetActivities, "A2", end, wrap)
	}
	lastCol, _ := excelize.ColumnNumberToName(len(cols))
	f.SetColWidth(SheetActivities, "A", lastCol, 24)
	f.SetPanes(SheetActivities, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})

	if err := set(SheetProcessor, 1, []string{l.T("art30.p.title"), ""}); err != nil {
		return nil, err
	}
	for i, row := range processorRows(rec, l) {
		if err := set(SheetProcessor, i+2, row); err != nil {
			return nil, err
		}
	}
	f.SetCellStyle(SheetProcessor, "A1", "A8", bold)
	f.SetColWidth(SheetProcessor, "A", "A", 40)
	f.SetColWidth(SheetProcessor, "B", "B", 80)
	f.SetActiveSheet(1)
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// art30Markdown lays the record out as the CNIL's fiches: the
// organisation, then one fiche per activity, then the processor record.
func art30Markdown(rec register.Art30Record, l messages) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s (v%d, %s)\n\n", l.T("art30.title"), rec.Version, dateText(rec.AppliedAt))
	fmt.Fprintf(&b, "- **%s**: %s\n- **%s**: %s\n- **%s**: %s\n\n", l.T("art30.controller"), partyText(rec.Controller), l.T("art30.dpo"), partyText(rec.DPO), l.T("art30.region"), rec.Region)
	cols := art30Columns(l)
	for _, row := range art30Rows(rec) {
		fmt.Fprintf(&b, "## %s\n\n", row[1])
		for i, c := range cols {
			if i == 1 || i == 4 || i == 5 {
				continue
			}
			fmt.Fprintf(&b, "- **%s**: %s\n", c, orDash(row[i]))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## %s\n\n", l.T("art30.p.title"))
	for _, row := range processorRows(rec, l) {
		fmt.Fprintf(&b, "- **%s**: %s\n", row[0], orDash(row[1]))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
)

var cliOperator = garde.Principal{KeyID: "cli", Role: garde.RoleOperator}

func runTenantCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	asJSON := fs.Bool("json", false, `print {"tenant": ID, "key": KEY}`)
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"usage: garde tenant create NAME [--data-dir DIR] [--json]"}
	}
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	t, key, err := svc.Tenancy.CreateTenant(ctx, cliOperator, rest[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"tenant": string(t.ID), "key": key})
	}
	fmt.Fprintf(stdout, "tenant:    %s\nadmin key: %s\n\nThe key is shown once; garde keeps only its hash.\n", t.ID, key)
	return nil
}

// runTenantRecoverAdmin issues a new admin key to a tenant whose admins
// lost theirs. It works on the data directory (or --db), so it takes the
// master key, like tenant create: there is no credential to present over
// the network when the tenant's own are gone.
func runTenantRecoverAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant recover-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	asJSON := fs.Bool("json", false, `print {"tenant": ID, "id": KEY_ID, "key": KEY}`)
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"usage: garde tenant recover-admin TENANT_ID [--data-dir DIR] [--json]"}
	}
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	k, key, err := svc.Tenancy.RecoverAdminKey(ctx, garde.TenantID(rest[0]))
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"tenant": rest[0], "id": k.ID, "key": key})
	}
	fmt.Fprintf(stdout, "tenant:    %s\nadmin key: %s\n\nThe key is shown once; garde keeps only its hash. The recovery is on the tenant's audit trail (key.recover_admin).\n", rest[0], key)
	return nil
}

func runOperatorKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("operator key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	asJSON := fs.Bool("json", false, `print {"id": ID, "key": KEY}`)
	if rest, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{"usage: garde operator key [--data-dir DIR] [--json]"}
	}
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	k, text, err := svc.Tenancy.CreateOperatorKey(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"id": k.ID, "key": text})
	}
	fmt.Fprintf(stdout, "operator key: %s\n\nIt creates tenants (POST /v1/tenants) and reads no tenant data. Shown once.\n", text)
	return nil
}

func runRegisterApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("register apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "garde server URL")
	key := fs.String("key", "", "admin API key of the tenant")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *key == "" {
		return usageError{"usage: garde register apply FILE --server URL --key KEY"}
	}
	body, err := os.ReadFile(rest[0])
	if err != nil {
		return err
	}
	ct := "application/yaml"
	if strings.HasSuffix(rest[0], ".json") {
		ct = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(*server, "/")+"/v1/register", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*key)
	req.Header.Set("Content-Type", ct)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("server answered %s:\n%s", resp.Status, problemText(out))
	}
	var rv struct {
		Version int `json:"version"`
	}
	json.Unmarshal(out, &rv)
	fmt.Fprintf(stdout, "register applied: version %d\n", rv.Version)
	return nil
}

// problemText renders a problem+json body for a terminal.
func problemText(b []byte) string {
	var p struct {
		Detail string `json:"detail"`
		Errors []struct {
			Field, Message string
		} `json:"errors"`
	}
	if json.Unmarshal(b, &p) != nil {
		return string(b)
	}
	var sb strings.Builder
	sb.WriteString(p.Detail)
	for _, e := range p.Errors {
		fmt.Fprintf(&sb, "\n  %s: %s", e.Field, e.Message)
	}
	return sb.String()
}

func runKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "rotate this tenant's data key (re-wraps its subject keys) instead of the master key")
	retire := fs.Bool("retire", false, "after a master rotation, retire the versions no tenant key uses any more")
	if rest, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{"usage: garde keys rotate [--tenant ID] [--retire] [--data-dir DIR]"}
	}
	if *tenant != "" && *retire {
		return usageError{"--retire applies to master key rotation, not to --tenant"}
	}
	svc, db, mk, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if *tenant != "" {
		v, n, err := svc.Tenancy.RotateTenantKey(ctx, garde.TenantID(*tenant))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tenant %s: data key version %d; %d subject keys re-wrapped (no data rewritten)\n", *tenant, v, n)
		return nil
	}
	v, err := mk.Rotate(time.Now())
	if err != nil {
		return err
	}
	n, err := svc.Tenancy.RewrapTenantKeys(ctx)
	if err != nil {
		return fmt.Errorf("master key version %d created, but re-wrapping failed (run again): %w", v, err)
	}
	fmt.Fprintf(stdout, "master key version %d; %d tenant keys re-wrapped\n", v, n)
	if *retire {
		used, err := svc.Tenancy.MasterVersionsInUse(ctx)
		if err != nil {
			return err
		}
		for _, old := range mk.Versions() {
			if old != v && used[old] == 0 {
				if err := mk.Retire(old); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "retired master key version %d\n", old)
			}
		}
	}
	fmt.Fprintln(stdout, "Running servers read the new version from the key file when they first meet it. Back up the key file again.")
	return nil
}

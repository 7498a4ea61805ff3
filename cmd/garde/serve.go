package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/web"
)

// dataFlags are the flags of every command that opens the data directory.
type dataFlags struct {
	db         string
	dataDir    string
	keyFile    string
	sqliteSync string
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.db, "db", "", "database: a postgres:// URL, or empty for SQLite in --data-dir")
	fs.StringVar(&d.dataDir, "data-dir", "./garde-data", "directory holding the SQLite database and, by default, the master key")
	fs.StringVar(&d.keyFile, "key-file", "", "master key file (default DATA-DIR/master.key); created with mode 0600 on first run")
	fs.StringVar(&d.sqliteSync, "sqlite-sync", "NORMAL", "SQLite synchronous mode: NORMAL (survives a process crash) or FULL (also survives power loss)")
}

// open opens the data directory: the master key (created on first use)
// and the database.
func (d *dataFlags) open(ctx context.Context, stderr io.Writer) (*app.Service, garde.Store, *keyring.FileKeys, error) {
	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("data directory: %w", err)
	}
	keyFile := d.keyFile
	if keyFile == "" {
		keyFile = filepath.Join(d.dataDir, "master.key")
	}
	mk, created, err := keyring.LoadOrCreateFile(keyFile, time.Now())
	if err != nil {
		return nil, nil, nil, err
	}
	if created {
		fmt.Fprintf(stderr, "garde: created a new master key in %s (mode 0600). Back it up apart from the database: without it nothing can be read.\n", keyFile)
	}
	db, err := openStore(ctx, d.db, d.dataDir, d.sqliteSync)
	if err != nil {
		return nil, nil, nil, err
	}
	svc := app.New(db, mk, garde.SystemClock{})
	// Erased subjects stay erased when an older backup is back (backup.go).
	if err := enforceErasures(ctx, svc, db.(garde.KeyStoreProvider).KeyStore(), d.dataDir, stderr); err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	// Signed checkpoints are kept apart too, with the keys, so that a
	// restore cannot make garde sign a second history (ledger.go): the
	// Service has them from the store.
	return svc, db, mk, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS")
	tlsKey := fs.String("tls-key", "", "TLS private key file (PEM)")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body in bytes (413 beyond)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	rateLimit := fs.Float64("rate-limit", web.DefaultLimits.PerKey, "requests per second one API key may make, 429 beyond (0: no limit)")
	rateLimitAddr := fs.Float64("rate-limit-addr", web.DefaultLimits.PerAddr, "requests per second one client address may make, 429 beyond (0: no limit)")
	region := fs.String("region", "", "where this deployment and its database run (cloud region or ISO country); outside the EU/EEA, every tenant's register must record a transfer there")
	trustedProxies := fs.String("trusted-proxies", "", "comma-separated addresses or CIDRs of the proxies in front of garde, whose X-Forwarded-For names the client")
	lockout := fs.Int("lockout", web.DefaultLimits.LockoutFailures, "failed authentications within a minute that lock out, for 5 minutes, what they aimed at: the key, its tenant at the address, or the address (IPv6: its /64) (0: never)")
	egressAllow := fs.String("egress-allow", "", "comma-separated hosts and CIDRs that webhooks, callbacks and SMTP may reach besides public addresses (e.g. 127.0.0.1,10.0.0.0/8,hooks.internal)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long to let requests in flight finish on SIGINT/SIGTERM")
	if rest, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", rest)}
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	policy, err := egressPolicy(*egressAllow, getenv, logger)
	if err != nil {
		return err
	}
	logger.Info("egress policy", "allows", policy.String())

	// Held shared until the server has stopped and closed the database,
	// so that garde restore cannot swap the data under it (lock.go).
	unlock, err := d.lockServe(ctx, stderr)
	if err != nil {
		return err
	}
	defer unlock()
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := reportForks(ctx, svc, logger); err != nil {
		return err
	}
	// Residency is checked, not declared: refuse to serve data from where
	// a register records no lawful transfer (residency.go).
	if err := svc.Tenancy.CheckResidency(ctx, *region); err != nil {
		return fmt.Errorf("residency: %w", err)
	}
	if *region == "" {
		logger.Warn("no --region declared: only the registers' own regions are checked")
	}
	// Deadline alarms, deliveries, retention, breach escalations and
	// detectors (jobs.go); the database closes only after they stop.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	waitJobs := startBackground(jobsCtx, svc, logger, getenv, policy)
	defer func() { stopJobs(); waitJobs() }()

	limits := web.DefaultLimits
	limits.PerKey, limits.PerAddr, limits.LockoutFailures = *rateLimit, *rateLimitAddr, *lockout
	if limits.TrustedProxies, err = parsePrefixes(*trustedProxies); err != nil {
		return usageError{fmt.Sprintf("--trusted-proxies: %v", err)}
	}
	srv := &http.Server{
		Handler:           web.NewServer(svc, logger, web.Options{MaxBody: *maxBody, Limits: limits}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if *tlsCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	logger.Info("garde serving", "addr", ln.Addr().String(), "scheme", scheme, "data_dir", d.dataDir)
	fmt.Fprintf(stdout, "garde listening on %s://%s\n", scheme, ln.Addr())

	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let every request in flight finish (each write is
	// committed before it is acknowledged), then close the database.
	logger.Info("garde shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("garde stopped")
	return nil
}

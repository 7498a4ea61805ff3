package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// MasterKeys is the top of the hierarchy: the keys that wrap tenant keys.
// It is an interface so that a KMS or an HSM can stand in for the key file;
// garde only ever asks for the current version and for a named version.
type MasterKeys interface {
	// Current is the version new tenant keys are wrapped under.
	Current() *Sealer
	// Version returns an older version, for unwrapping; it fails for a
	// retired or unknown version.
	Version(v uint32) (*Sealer, error)
}

// ErrUnknownVersion is returned for a key version that does not exist or
// has been retired.
var ErrUnknownVersion = errors.New("keyring: unknown or retired key version")

const masterFileFormat = "garde-master-keys/v1"

type masterFile struct {
	Format  string          `json:"format"`
	Current uint32          `json:"current"`
	Keys    []masterFileKey `json:"keys"`
}

type masterFileKey struct {
	Version uint32    `json:"version"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	Retired bool      `json:"retired,omitempty"`
}

// FileKeys is a MasterKeys kept in a file of mode 0600. The file lists every
// version; rotation appends a version and retiring marks one unusable.
type FileKeys struct {
	path string

	mu      sync.RWMutex
	file    masterFile
	sealers map[uint32]*Sealer
	// info identifies the file as last read: every write replaces it by
	// rename, so a new inode means a new version of the file.
	info os.FileInfo
}

// LoadOrCreateFile opens the master key file at path, creating it with one
// fresh 256-bit key (mode 0600) if it does not exist. It refuses a file that
// group or others may read: a master key readable by another account is a
// master key already leaked.
func LoadOrCreateFile(path string, now time.Time) (keys *FileKeys, created bool, err error) {
	fk := &FileKeys{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := Generate()
		if err != nil {
			return nil, false, err
		}
		fk.file = masterFile{Format: masterFileFormat, Current: 1, Keys: []masterFileKey{{
			Version: 1, Key: base64.StdEncoding.EncodeToString(k[:]), Created: now.UTC(),
		}}}
		if err := fk.write(true); err != nil {
			return nil, false, err
		}
		if err := fk.load(); err != nil {
			return nil, false, err
		}
		return fk, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read master key file: %w", err)
	}
	if err := CheckPrivate(path); err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(b, &fk.file); err != nil {
		return nil, false, fmt.Errorf("master key file %s: %w", path, err)
	}
	if err := fk.load(); err != nil {
		return nil, false, fmt.Errorf("master key file %s: %w", path, err)
	}
	return fk, false, nil
}

// CheckPrivate fails unless only the owner may read or write path.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("master key file %s has mode %04o: group or others can access it; run `chmod 600 %s` (garde refuses to start with an exposed master key)", path, perm, path)
	}
	return nil
}

func (fk *FileKeys) load() error {
	if fk.file.Format != masterFileFormat {
		return fmt.Errorf("format %q, want %q", fk.file.Format, masterFileFormat)
	}
	sealers := make(map[uint32]*Sealer, len(fk.file.Keys))
	for _, mk := range fk.file.Keys {
		if mk.Retired {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(mk.Key)
		if err != nil {
			return fmt.Errorf("key version %d: %w", mk.Version, err)
		}
		k, err := KeyFromBytes(raw)
		clear(raw)
		if err != nil {
			return fmt.Errorf("key version %d: %w", mk.Version, err)
		}
		s, err := NewSealer(k, mk.Version)
		if err != nil {
			return err
		}
		sealers[mk.Version] = s
	}
	if sealers[fk.file.Current] == nil {
		return fmt.Errorf("current version %d is missing or retired", fk.file.Current)
	}
	fk.sealers = sealers
	if fi, err := os.Stat(fk.path); err == nil {
		fk.info = fi
	}
	return nil
}

// write replaces the file atomically (temporary file, fsync, rename) so a
// crash never leaves a truncated master key behind.
func (fk *FileKeys) write(create bool) error {
	b, err := json.MarshalIndent(fk.file, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(fk.path)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create key directory: %w", err)
		}
	}
	tmp, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return fmt.Errorf("write master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), fk.path); err != nil {
		return fmt.Errorf("write master key file: %w", err)
	}
	return nil
}

// Current returns the sealer of the current master key version. If the
// file changed since it was read (another process rotated or retired a
// version), it is read again first.
func (fk *FileKeys) Current() *Sealer {
	if fi, err := os.Stat(fk.path); err == nil {
		fk.mu.RLock()
		changed := fk.info == nil || !os.SameFile(fi, fk.info) || !fi.ModTime().Equal(fk.info.ModTime())
		fk.mu.RUnlock()
		if changed {
			// On failure keep serving with the versions already loaded.
			_ = fk.reload()
		}
	}
	fk.mu.RLock()
	defer fk.mu.RUnlock()
	return fk.sealers[fk.file.Current]
}

// Version returns the sealer of master key version v. A version this
// process has not seen is looked up again in the file, so that a rotation
// done by `garde keys rotate` reaches a running server.
func (fk *FileKeys) Version(v uint32) (*Sealer, error) {
	fk.mu.RLock()
	s := fk.sealers[v]
	fk.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	if err := fk.reload(); err != nil {
		return nil, err
	}
	fk.mu.RLock()
	defer fk.mu.RUnlock()
	if s := fk.sealers[v]; s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("master key version %d: %w", v, ErrUnknownVersion)
}

// reload reads the key file again.
func (fk *FileKeys) reload() error {
	if err := CheckPrivate(fk.path); err != nil {
		return err
	}
	b, err := os.ReadFile(fk.path)
	if err != nil {
		return fmt.Errorf("read master key file: %w", err)
	}
	fk.mu.Lock()
	defer fk.mu.Unlock()
	old := fk.file
	fk.file = masterFile{}
	if err := json.Unmarshal(b, &fk.file); err != nil {
		fk.file = old
		return fmt.Errorf("master key file %s: %w", fk.path, err)
	}
	if err := fk.load(); err != nil {
		fk.file = old
		return fmt.Errorf("master key file %s: %w", fk.path, err)
	}
	return nil
}

// Versions lists the usable (not retired) versions, oldest first.
func (fk *FileKeys) Versions() []uint32 {
	fk.mu.RLock()
	defer fk.mu.RUnlock()
	var vs []uint32
	for v := range fk.sealers {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Rotate adds a new master key version and makes it current. The file is
// rewritten before the new version is used, so a key that wrapped anything
// is always on disk.
func (fk *FileKeys) Rotate(now time.Time) (uint32, error) {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	k, err := Generate()
	if err != nil {
		return 0, err
	}
	next := fk.file.Current
	for _, mk := range fk.file.Keys {
		next = max(next, mk.Version)
	}
	next++
	old := fk.file
	fk.file.Keys = append(slices.Clone(fk.file.Keys), masterFileKey{
		Version: next, Key: base64.StdEncoding.EncodeToString(k[:]), Created: now.UTC(),
	})
	fk.file.Current = next
	if err := fk.write(false); err != nil {
		fk.file = old
		return 0, err
	}
	return next, fk.load()
}

// Retire makes version v unusable. The caller must first re-wrap everything
// wrapped under v; the key bytes are then removed from the file.
func (fk *FileKeys) Retire(v uint32) error {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if v == fk.file.Current {
		return fmt.Errorf("master key version %d is current and cannot be retired", v)
	}
	old := fk.file
	keys := slices.Clone(fk.file.Keys)
	found := false
	for i := range keys {
		if keys[i].Version == v {
			keys[i].Retired, keys[i].Key, found = true, "", true
		}
	}
	if !found {
		return fmt.Errorf("master key version %d: %w", v, ErrUnknownVersion)
	}
	fk.file.Keys = keys
	if err := fk.write(false); err != nil {
		fk.file = old
		return err
	}
	return fk.load()
}

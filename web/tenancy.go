package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/register"
)

// Tenancy over HTTP: tenants, API keys, the register of processing.

type tenantCreate struct {
	Name string `json:"name"`
}

type tenantCreated struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	Key    string `json:"key"`
}

type keyCreate struct {
	Role string `json:"role"`
}

type keyCreated struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Key  string `json:"key"`
}

type keyInfo struct {
	ID        string     `json:"id"`
	Role      string     `json:"role"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type registerVersion struct {
	Version   int                `json:"version"`
	AppliedAt time.Time          `json:"applied_at"`
	AppliedBy string             `json:"applied_by"`
	Register  *register.Register `json:"register"`
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	var in tenantCreate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, key, err := s.svc.Tenancy.CreateTenant(r.Context(), principalFrom(r.Context()), in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, tenantCreated{Tenant: string(t.ID), Name: t.Name, Key: key})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var in keyCreate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	k, text, err := s.svc.Tenancy.CreateAPIKey(r.Context(), principalFrom(r.Context()), in.Role)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, keyCreated{ID: k.ID, Role: string(k.Role), Key: text})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.svc.Tenancy.APIKeys(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	out := make([]keyInfo, 0, len(keys))
	for _, k := range keys {
		ki := keyInfo{ID: k.ID, Role: string(k.Role), Prefix: k.Prefix, CreatedAt: k.CreatedAt}
		if !k.RevokedAt.IsZero() {
			ki.RevokedAt = &k.RevokedAt
		}
		out = append(out, ki)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Tenancy.RevokeAPIKey(r.Context(), principalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	s.dash.EndSessions(r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putRegister(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	rv, err := s.svc.Tenancy.ApplyRegister(r.Context(), principalFrom(r.Context()), body)
	if err != nil {
		return err
	}
	return writeRegister(w, http.StatusCreated, rv)
}

func writeRegister(w http.ResponseWriter, status int, rv garde.RegisterVersion) error {
	reg, err := rv.Parse()
	if err != nil {
		return err
	}
	return writeJSON(w, status, registerVersion{Version: rv.Version, AppliedAt: rv.AppliedAt, AppliedBy: rv.AppliedBy, Register: reg})
}

func (s *Server) getRegister(w http.ResponseWriter, r *http.Request) error {
	v := 0
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return garde.Invalid("version", "must be a positive integer")
		}
		v = n
	}
	rv, err := s.svc.Tenancy.Register(r.Context(), principalFrom(r.Context()), v)
	if err != nil {
		return err
	}
	return writeRegister(w, http.StatusOK, rv)
}

package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/garde-privacy/garde"
)

// The OpenAPI document is generated from the route table, so that a route
// cannot exist without being described. Schemas are written here by hand.

type obj = map[string]any

func str(desc string) obj { return obj{"type": "string", "description": desc} }

// tenantRoles are the roles a tenant's key may have, as strings for the
// schemas (garde.TenantRoles).
func tenantRoles() []string {
	out := make([]string, len(garde.TenantRoles))
	for i, r := range garde.TenantRoles {
		out[i] = string(r)
	}
	return out
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
func arr(items obj) obj   { return obj{"type": "array", "items": items} }
func object(props obj, required ...string) obj {
	o := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var timeSchema = obj{"type": "string", "format": "date-time"}

var schemas = obj{
	"Health":        object(obj{"status": str("ok, ready, or what is wrong")}),
	"TenantCreate":  object(obj{"name": str("the client company's name (≤ 200 bytes)")}, "name"),
	"TenantCreated": object(obj{"tenant": str("tenant id"), "name": str(""), "key": str("the first admin API key, shown once")}),
	"KeyCreate":     object(obj{"role": obj{"type": "string", "enum": tenantRoles()}}, "role"),
	"KeyCreated":    object(obj{"id": str("key id, for revocation and the audit trail"), "role": str(""), "key": str("the API key, shown once")}),
	"KeyList": object(obj{"keys": arr(object(obj{
		"id": str(""), "role": str(""), "prefix": str("public part of the key"), "created_at": timeSchema, "revoked_at": timeSchema,
	}))}),
	"Register": obj{
		"type":        "object",
		"description": "The register of processing as YAML (application/yaml) or JSON. See docs/register.md and examples/register.yaml.",
		"required":    []string{"controller", "dpo", "region", "purposes"},
		"properties": obj{
			"controller": ref("Party"), "dpo": ref("Party"),
			"region":            str("where this deployment stores data: a cloud region (eu-west-3) or an ISO 3166 country code"),
			"purposes":          arr(ref("Purpose")),
			"transfers":         arr(ref("Transfer")),
			"security_measures": arr(str("")),
		},
	},
	"Party": object(obj{"name": str(""), "address": str(""), "contact": str(""), "email": str(""), "phone": str("")}),
	"Purpose": object(obj{
		"id": str("lower_snake_case identifier"), "description": str(""),
		"legal_basis":   obj{"type": "string", "enum": []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"}},
		"data_subjects": arr(str("")),
		"categories":    arr(str("fideslang data category, e.g. user.contact.email")),
		"retention":     str("365d, 12w, 2y, 72h"),
		"recipients": arr(object(obj{
			"name": str(""), "country": str("ISO 3166 alpha-2"), "role": obj{"type": "string", "enum": []string{"processor", "controller", "joint_controller", "recipient"}},
			"endpoint": str("webhook URL for notices"),
		}, "name", "country", "role")),
		"transfers":     arr(ref("Transfer")),
		"anonymize":     obj{"type": "object", "additionalProperties": obj{"type": "string", "enum": []string{"redact", "replace", "mask", "pseudonymize", "encrypt", "keep"}}},
		"on_withdrawal": obj{"type": "string", "enum": []string{"stop", "anonymize", "erase"}},
	}, "id", "legal_basis", "categories", "retention"),
	"Transfer": object(obj{
		"country": str("ISO 3166 alpha-2"), "recipient": str("recipient name, or empty for all"),
		"safeguard": obj{"type": "string", "enum": []string{"adequacy", "scc", "bcr", "code_of_conduct", "certification", "derogation"}},
		"reference": str(""),
	}, "country", "safeguard"),
	"RegisterVersion": object(obj{"version": obj{"type": "integer"}, "applied_at": timeSchema, "applied_by": str("key id"), "register": ref("Register")}),
	"MessageIn": object(obj{
		"subject": str("the tenant's own identifier for the end user (≤ 256 bytes); stored only sealed and as a keyed blind index"),
		"purpose": str("a purpose of the register"),
		"channel": obj{"type": "string", "enum": []string{"chat", "email", "voice", "sms", "web", "social", "api", "other"}, "default": "chat"},
		"text":    str("free text (≤ 256 KiB); its category is user.content.private"),
		"fields":  obj{"type": "object", "description": "structured personal data keyed by fideslang category", "additionalProperties": obj{"type": "string"}},
	}, "subject", "purpose"),
	"MessageBatch": object(obj{"messages": obj{"type": "array", "items": ref("MessageIn"), "maxItems": 10000}}, "messages"),
	"Message": object(obj{
		"id": str(""), "subject": str(""), "purpose": str(""), "channel": str(""), "text": str(""),
		"fields": obj{"type": "object", "additionalProperties": obj{"type": "string"}}, "created_at": timeSchema, "expires_at": timeSchema,
		"entities": arr(object(obj{
			"type": str("EMAIL_ADDRESS, PHONE_NUMBER, IBAN_CODE, FR_NIR, PERSON, LOCATION…"), "category": str("fideslang data category"),
			"start": obj{"type": "integer", "description": "code-point offset in the text as sent"}, "end": obj{"type": "integer", "description": "exclusive"},
			"score":    obj{"type": "number"},
			"operator": obj{"type": "string", "enum": []string{"redact", "replace", "mask", "pseudonymize", "encrypt", "keep"}},
		})),
		"special": arr(str("special category (Art. 9) hinted at by the text: health, religion, political_opinion, sexual_orientation, union_membership")),
	}),
	"MessageList": object(obj{"messages": arr(ref("Message"))}),
	"AuditList": object(obj{"events": arr(object(obj{
		"seq": obj{"type": "integer"}, "at": timeSchema, "actor": str("key id"), "action": str(""), "purpose": str(""),
		"subject_ref": str("keyed hash of the subject identifier, never the identifier"), "outcome": obj{"type": "string", "enum": []string{"ok", "denied"}},
		"count": obj{"type": "integer"}, "reason": str("fixed code"),
	})), "next": str("pass as ?after= for the next page")}),
	"Problem": obj{
		"type":        "object",
		"description": "RFC 9457 problem details",
		"properties": obj{
			"type": str("urn:garde:problem:<kind>"), "title": str(""), "status": obj{"type": "integer"}, "detail": str(""),
			"code":       str("reason code for refusals: purpose_not_in_register, category_not_allowed, no_consent"),
			"errors":     arr(object(obj{"field": str("path of the field, e.g. purposes[1].legal_basis"), "message": str("")})),
			"request_id": str(""),
		},
	},
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

func (s *Server) openAPIDocument() obj {
	paths := obj{}
	for _, rt := range s.routes {
		if rt.Dashboard {
			continue
		}
		op := obj{"summary": rt.Summary, "operationId": operationID(rt)}
		var params []obj
		for _, m := range pathParam.FindAllStringSubmatch(rt.Pattern, -1) {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, obj{"name": q.Name, "in": "query", "required": q.Required, "description": q.Description, "schema": obj{"type": q.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Request != "" {
			content := obj{"application/json": obj{"schema": ref(rt.Request)}}
			if rt.Request == "Register" {
				content["application/yaml"] = obj{"schema": ref(rt.Request)}
			}
			op["requestBody"] = obj{"required": true, "content": content}
		}
		success := obj{"description": "success"}
		if rt.Response != "" {
			success["content"] = obj{"application/json": obj{"schema": ref(rt.Response)}}
		}
		responses := obj{strconv.Itoa(rt.Status): success}
		problem := obj{"description": "problem", "content": obj{"application/problem+json": obj{"schema": ref("Problem")}}}
		if rt.Op != "" {
			op["x-garde-operation"] = string(rt.Op) // its row in the gate (garde.Enter)
		}
		if rr := rt.Roles(); len(rr) > 0 {
			roles := make([]string, len(rr))
			for i, r := range rr {
				roles[i] = string(r)
			}
			op["security"] = []obj{{"bearer": []string{}}}
			op["x-garde-roles"] = roles
			responses["401"] = problem
			responses["403"] = problem
		} else {
			op["security"] = []obj{}
		}
		if rt.Request != "" {
			responses["400"] = problem
			responses["413"] = problem
		}
		op["responses"] = responses
		path := rt.Pattern
		item, _ := paths[path].(obj)
		if item == nil {
			item = obj{}
			paths[path] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "garde",
			"version":     "1",
			"description": "garde's privacy layer API. Errors are RFC 9457 problem+json. The tenant always comes from the API key.",
		},
		"paths": paths,
		"components": obj{
			"schemas":         schemas,
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "description": "garde API key: garde_<prefix>_<secret>"}},
		},
	}
}

func operationID(rt Route) string {
	id := strings.ToLower(rt.Method)
	for _, part := range strings.FieldsFunc(rt.Pattern, func(r rune) bool { return r == '/' || r == ':' || r == '.' }) {
		part = strings.Trim(part, "{}")
		if part == "" || part == "v1" {
			continue
		}
		id += strings.ToUpper(part[:1]) + part[1:]
	}
	return id
}

var (
	openAPIOnce sync.Once
	openAPIJSON []byte
)

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	openAPIOnce.Do(func() {
		openAPIJSON, _ = json.MarshalIndent(s.openAPIDocument(), "", "  ")
	})
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIJSON)
	return err
}

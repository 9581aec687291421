package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Model is the part of a botocore model the generator uses.
type Model struct {
	APIVersion      string
	XMLNamespace    string
	ServiceID       string
	ServiceFullName string
	SignatureName   string // service name in "NoSuchVersion" messages

	Operations []*Operation // sorted by name
	Shapes     map[string]*Shape
}

// Operation is one action.
type Operation struct {
	Name          string
	Input         string // input shape ("" when none)
	Output        string // output shape ("" when none)
	ResultWrapper string
	Errors        []string
}

// Shape is a named shape.
type Shape struct {
	Name         string
	Type         string // structure, list, map, string, integer, long, boolean, double, float, timestamp, blob
	Members      []*Ref // structure members in model order
	Required     map[string]bool
	Member       *Ref // list element
	Key, Value   *Ref // map key and value
	Min, Max     *int64
	Pattern      string
	Enum         []string
	Error        *ErrorTrait
	Exception    bool
	Flattened    bool
	LocationName string
	Deprecated   bool
}

// Ref is a reference to a shape: a structure member, a list element or a
// map key or value.
type Ref struct {
	Name         string // member name ("" for list/map refs)
	Shape        string
	LocationName string
	Deprecated   bool
}

// ErrorTrait is a shape's "error" trait.
type ErrorTrait struct {
	Code        string
	Status      int
	SenderFault bool
}

// Traits the generator understands. Any other trait fails generation, so
// that a new model cannot silently change the wire format.
var (
	shapeTraits = set("type", "members", "required", "member", "key", "value", "min", "max",
		"pattern", "enum", "error", "exception", "flattened", "locationName", "deprecated",
		// Informational only; they change nothing on the Query wire:
		"wrapper", "synthetic", "fault", "sensitive", "box", "documentation")
	refTraits = set("shape", "locationName", "deprecated", "documentation", "box", "idempotencyToken")
	opTraits  = set("name", "http", "input", "output", "errors", "documentation", "deprecated",
		"authtype", "auth", "endpointdiscovery", "endpoint", "staticContextParams",
		"operationContextParams", "requestcompression", "httpChecksum", "unsignedPayload")
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func checkKeys(what string, n *node, allowed map[string]bool) error {
	for _, k := range n.keys {
		if !allowed[k] {
			return fmt.Errorf("%s: unsupported trait %q (teach ecgen about it)", what, k)
		}
	}
	return nil
}

func str(n *node) string {
	if n == nil {
		return ""
	}
	return n.scalar
}

func boolean(n *node) bool { return n != nil && n.kind == 'b' && n.scalar == "true" }

// loadModelNode reads a parsed (trimmed or full) botocore model.
func loadModelNode(root *node) (*Model, error) {
	md := root.get("metadata")
	m := &Model{
		APIVersion:      str(md.get("apiVersion")),
		XMLNamespace:    str(md.get("xmlNamespace")),
		ServiceID:       str(md.get("serviceId")),
		ServiceFullName: str(md.get("serviceFullName")),
		Shapes:          map[string]*Shape{},
	}
	if p := str(md.get("protocol")); p != "query" {
		return nil, fmt.Errorf("protocol %q: ecgen generates the query protocol only", p)
	}
	if m.APIVersion == "" || m.XMLNamespace == "" {
		return nil, fmt.Errorf("metadata lacks apiVersion or xmlNamespace")
	}
	// AWS names the service "Amazon" + serviceId without spaces in
	// NoSuchVersion messages ("AmazonElastiCache").
	m.SignatureName = "Amazon" + strings.ReplaceAll(m.ServiceID, " ", "")

	shapes := root.get("shapes")
	for i, name := range shapes.keys {
		s, err := loadShape(name, shapes.vals[i])
		if err != nil {
			return nil, err
		}
		m.Shapes[name] = s
	}
	ops := root.get("operations")
	for i, name := range ops.keys {
		on := ops.vals[i]
		if err := checkKeys("operation "+name, on, opTraits); err != nil {
			return nil, err
		}
		op := &Operation{Name: name}
		if n := str(on.get("name")); n != name {
			return nil, fmt.Errorf("operation %s: name %q differs", name, n)
		}
		if h := on.get("http"); h != nil {
			if str(h.get("method")) != "POST" || str(h.get("requestUri")) != "/" {
				return nil, fmt.Errorf("operation %s: http binding other than POST / is not supported", name)
			}
		}
		if in := on.get("input"); in != nil {
			if err := checkKeys("input of "+name, in, set("shape", "documentation")); err != nil {
				return nil, err
			}
			op.Input = str(in.get("shape"))
		}
		if out := on.get("output"); out != nil {
			if err := checkKeys("output of "+name, out, set("shape", "resultWrapper", "documentation")); err != nil {
				return nil, err
			}
			op.Output = str(out.get("shape"))
			op.ResultWrapper = str(out.get("resultWrapper"))
			if op.ResultWrapper == "" {
				op.ResultWrapper = name + "Result"
			}
		}
		if errs := on.get("errors"); errs != nil {
			for _, e := range errs.vals {
				op.Errors = append(op.Errors, str(e.get("shape")))
			}
		}
		m.Operations = append(m.Operations, op)
	}
	sort.Slice(m.Operations, func(a, b int) bool { return m.Operations[a].Name < m.Operations[b].Name })
	return m, m.check()
}

func loadRef(what string, n *node) (*Ref, error) {
	if n == nil {
		return nil, fmt.Errorf("%s: missing", what)
	}
	if err := checkKeys(what, n, refTraits); err != nil {
		return nil, err
	}
	return &Ref{Shape: str(n.get("shape")), LocationName: str(n.get("locationName")), Deprecated: boolean(n.get("deprecated"))}, nil
}

func loadShape(name string, n *node) (*Shape, error) {
	if err := checkKeys("shape "+name, n, shapeTraits); err != nil {
		return nil, err
	}
	s := &Shape{
		Name:         name,
		Type:         str(n.get("type")),
		Pattern:      str(n.get("pattern")),
		Exception:    boolean(n.get("exception")),
		Flattened:    boolean(n.get("flattened")),
		LocationName: str(n.get("locationName")),
		Deprecated:   boolean(n.get("deprecated")),
		Required:     map[string]bool{},
	}
	for _, b := range []struct {
		key string
		dst **int64
	}{{"min", &s.Min}, {"max", &s.Max}} {
		if v := n.get(b.key); v != nil {
			x, err := strconv.ParseInt(v.scalar, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("shape %s: %s %q is not an integer", name, b.key, v.scalar)
			}
			*b.dst = &x
		}
	}
	if e := n.get("enum"); e != nil {
		for _, v := range e.vals {
			s.Enum = append(s.Enum, v.scalar)
		}
	}
	if r := n.get("required"); r != nil {
		for _, v := range r.vals {
			s.Required[v.scalar] = true
		}
	}
	if e := n.get("error"); e != nil {
		if err := checkKeys("error trait of "+name, e, set("code", "httpStatusCode", "senderFault")); err != nil {
			return nil, err
		}
		et := &ErrorTrait{Code: str(e.get("code")), Status: 400, SenderFault: boolean(e.get("senderFault"))}
		if v := e.get("httpStatusCode"); v != nil {
			st, err := strconv.Atoi(v.scalar)
			if err != nil {
				return nil, fmt.Errorf("shape %s: bad httpStatusCode", name)
			}
			et.Status = st
		}
		if et.Code == "" {
			et.Code = name
		}
		s.Error = et
	}
	var err error
	switch s.Type {
	case "structure":
		if ms := n.get("members"); ms != nil {
			for i, mn := range ms.keys {
				r, err := loadRef("member "+name+"."+mn, ms.vals[i])
				if err != nil {
					return nil, err
				}
				r.Name = mn
				s.Members = append(s.Members, r)
			}
		}
		for req := range s.Required {
			if s.member(req) == nil {
				return nil, fmt.Errorf("shape %s: required member %s does not exist", name, req)
			}
		}
	case "list":
		s.Member, err = loadRef("list "+name+" member", n.get("member"))
	case "map":
		if s.Key, err = loadRef("map "+name+" key", n.get("key")); err == nil {
			s.Value, err = loadRef("map "+name+" value", n.get("value"))
		}
	case "string", "integer", "long", "boolean", "double", "float", "timestamp", "blob":
	default:
		return nil, fmt.Errorf("shape %s: unsupported type %q", name, s.Type)
	}
	return s, err
}

func (s *Shape) member(name string) *Ref {
	for _, m := range s.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// check verifies references and the model's assumptions the generator
// relies on.
func (m *Model) check() error {
	ref := func(what, name string) error {
		if _, ok := m.Shapes[name]; !ok {
			return fmt.Errorf("%s refers to unknown shape %q", what, name)
		}
		return nil
	}
	for _, s := range m.Shapes {
		for _, r := range s.refs() {
			if err := ref("shape "+s.Name, r.Shape); err != nil {
				return err
			}
		}
		if s.Type == "map" && m.Shapes[s.Key.Shape].Type != "string" {
			return fmt.Errorf("map %s: only string keys are supported", s.Name)
		}
		if s.Error != nil {
			for _, mem := range s.Members {
				if !strings.EqualFold(mem.Name, "message") {
					return fmt.Errorf("error shape %s: member %s other than message is not supported", s.Name, mem.Name)
				}
			}
		}
		if s.LocationName != "" && s.Type != "list" && s.Type != "map" {
			return fmt.Errorf("shape %s: locationName on a %s shape is not supported", s.Name, s.Type)
		}
	}
	for _, op := range m.Operations {
		for _, n := range append([]string{op.Input, op.Output}, op.Errors...) {
			if n == "" {
				continue
			}
			if err := ref("operation "+op.Name, n); err != nil {
				return err
			}
		}
		for _, e := range op.Errors {
			if m.Shapes[e].Error == nil && !m.Shapes[e].Exception {
				return fmt.Errorf("operation %s: error %s is not an error shape", op.Name, e)
			}
		}
		if op.Input != "" && m.Shapes[op.Input].Type != "structure" || op.Output != "" && m.Shapes[op.Output].Type != "structure" {
			return fmt.Errorf("operation %s: input and output must be structures", op.Name)
		}
	}
	return nil
}

// refs returns the shape references of s.
func (s *Shape) refs() []*Ref {
	switch s.Type {
	case "structure":
		return s.Members
	case "list":
		return []*Ref{s.Member}
	case "map":
		return []*Ref{s.Key, s.Value}
	}
	return nil
}

// reach returns the shapes reachable from roots (roots included).
func (m *Model) reach(roots []string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if n == "" || seen[n] {
			return
		}
		seen[n] = true
		for _, r := range m.Shapes[n].refs() {
			walk(r.Shape)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return seen
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/format"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// runtimeNames are the exported identifiers the generator itself defines in
// the output package. A shape with one of these names gets the suffix
// "Shape" so that the two never clash.
var runtimeNames = set("Service", "UnimplementedService", "ServiceFunc", "NewHandler",
	"Operations", "API", "APIVersion", "XMLNamespace", "NewFault")

type gen struct {
	m      *Model
	pkg    string
	hash   string
	source string // "module@version" of the overlay, or ""

	in, out  map[string]bool   // shapes reachable from inputs, outputs
	structs  []string          // non-error structures reachable from operations, sorted
	errs     []string          // error shapes, sorted
	patterns map[string]bool   // shapes whose pattern compiles (checked on input)
	skipped  []string          // "Shape: pattern: reason" for patterns Go cannot compile
	roles    map[string]string // shape -> "the input of X and the output of Y"
	exported map[string]string // identifier -> what defined it, to catch clashes
}

// generate returns the generated files (name -> gofmt'ed source) for the
// trimmed model data and, if not nil, the overlay applied to it.
func generate(data, overlay []byte, pkg string) (map[string][]byte, error) {
	root, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	var source string
	if overlay != nil {
		ov, err := parseJSON(overlay)
		if err != nil {
			return nil, fmt.Errorf("overlay: %w", err)
		}
		if source, err = mergeOverlay(root, ov); err != nil {
			return nil, err
		}
	}
	m, err := loadModelNode(root)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(data)
	h.Write(overlay)
	g := &gen{m: m, pkg: pkg, hash: hex.EncodeToString(h.Sum(nil)), source: source, patterns: map[string]bool{},
		roles: map[string]string{}, exported: map[string]string{}}
	if err := g.prepare(); err != nil {
		return nil, err
	}
	files := map[string]func(*file) error{
		"types_gen.go":   g.genTypes,
		"enums_gen.go":   g.genEnums,
		"errors_gen.go":  g.genErrors,
		"decode_gen.go":  g.genDecode,
		"encode_gen.go":  g.genEncode,
		"service_gen.go": g.genService,
	}
	out := map[string][]byte{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := &file{imports: map[string]bool{}}
		if err := files[n](f); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		src, err := f.source(g, n)
		if err != nil {
			return nil, err
		}
		out[n] = src
	}
	return out, nil
}

func (g *gen) prepare() error {
	var ins, outs []string
	errSet := map[string]bool{}
	inOf, outOf := map[string][]string{}, map[string][]string{}
	for _, op := range g.m.Operations {
		if op.Input != "" {
			ins = append(ins, op.Input)
			inOf[op.Input] = append(inOf[op.Input], op.Name)
		}
		if op.Output != "" {
			outs = append(outs, op.Output)
			outOf[op.Output] = append(outOf[op.Output], op.Name)
		}
		for _, e := range op.Errors {
			errSet[e] = true
		}
	}
	// Every error shape, also those no operation lists: the Go SDK, whose
	// overlay adds operations, carries no per-operation error lists.
	for n, s := range g.m.Shapes {
		if s.Error != nil || s.Exception {
			errSet[n] = true
		}
	}
	for n := range g.m.Shapes {
		var roles []string
		if ops := inOf[n]; len(ops) > 0 {
			roles = append(roles, "the input of "+joinList(ops))
		}
		if ops := outOf[n]; len(ops) > 0 {
			roles = append(roles, "the output of "+joinList(ops))
		}
		g.roles[n] = strings.Join(roles, " and ")
	}
	g.in, g.out = g.m.reach(ins), g.m.reach(outs)
	for n := range errSet {
		g.errs = append(g.errs, n)
	}
	sort.Strings(g.errs)
	for n := range g.m.Shapes {
		s := g.m.Shapes[n]
		if s.Type != "structure" || s.Error != nil || errSet[n] || !(g.in[n] || g.out[n]) {
			continue
		}
		g.structs = append(g.structs, n)
	}
	sort.Strings(g.structs)
	for n := range g.in {
		if errSet[n] {
			return fmt.Errorf("error shape %s is also used as data; not supported", n)
		}
	}
	for n := range g.out {
		if errSet[n] {
			return fmt.Errorf("error shape %s is also used as data; not supported", n)
		}
	}
	// Patterns: botocore patterns are ECMA-262 and, as in Smithy, not
	// implicitly anchored. Those RE2 cannot compile are skipped.
	var names []string
	for n := range g.m.Shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := g.m.Shapes[n]
		if s.Pattern == "" || s.Type != "string" {
			continue
		}
		if _, err := regexp.Compile(s.Pattern); err != nil {
			g.skipped = append(g.skipped, fmt.Sprintf("%s: pattern %q: %v", n, s.Pattern, err))
			continue
		}
		g.patterns[n] = true
	}
	// Identifiers.
	for n := range runtimeNames {
		g.exported[n] = "ecgen"
	}
	claim := func(id, what string) error {
		if prev, ok := g.exported[id]; ok {
			return fmt.Errorf("identifier %s of %s clashes with %s", id, what, prev)
		}
		g.exported[id] = what
		return nil
	}
	for _, n := range append(append([]string{}, g.structs...), g.errs...) {
		if err := claim(g.typeName(n), "shape "+n); err != nil {
			return err
		}
	}
	for _, op := range g.m.Operations {
		if op.Input == "" {
			if err := claim(op.Name+"Input", "operation "+op.Name); err != nil {
				return err
			}
		}
	}
	for _, n := range names {
		for _, v := range g.m.Shapes[n].Enum {
			if err := claim(enumConst(n, v), "enum "+n+" value "+v); err != nil {
				return err
			}
		}
	}
	return nil
}

// typeName is the Go type of a structure or error shape.
func (g *gen) typeName(shape string) string {
	if runtimeNames[shape] {
		return shape + "Shape"
	}
	return shape
}

// fieldName is the Go field of a member.
func fieldName(member string) string {
	r := []rune(member)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// enumConst names the constant of an enum value: the shape name followed by
// the value in CamelCase ("no-password-required" -> NoPasswordRequired,
// "SETTING" -> Setting, "n/a" -> NA, "dual_stack" -> DualStack).
func enumConst(shape, value string) string {
	var b strings.Builder
	b.WriteString(shape)
	parts := strings.FieldsFunc(value, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, p := range parts {
		r := []rune(p)
		upper := true
		for _, c := range r {
			if unicode.IsLower(c) {
				upper = false
			}
		}
		if upper {
			for i := 1; i < len(r); i++ {
				r[i] = unicode.ToLower(r[i])
			}
		}
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	if len(parts) == 0 {
		b.WriteString("Empty")
	}
	return b.String()
}

// elemType is the Go type of a value of shape n.
func (g *gen) elemType(n string) string {
	s := g.m.Shapes[n]
	switch s.Type {
	case "string":
		return "string"
	case "integer":
		return "int32"
	case "long":
		return "int64"
	case "boolean":
		return "bool"
	case "double":
		return "float64"
	case "float":
		return "float32"
	case "timestamp":
		return "time.Time"
	case "blob":
		return "[]byte"
	case "structure":
		return g.typeName(n)
	case "list":
		return "[]" + g.elemType(s.Member.Shape)
	case "map":
		return "map[string]" + g.elemType(s.Value.Shape)
	}
	panic("unreachable: type " + s.Type)
}

// fieldType is the Go type of a member of shape n: scalars and structures
// are pointers (nil = absent), lists, maps and blobs are nil when absent.
func (g *gen) fieldType(n string) string {
	switch g.m.Shapes[n].Type {
	case "list", "map", "blob":
		return g.elemType(n)
	}
	return "*" + g.elemType(n)
}

// constrained reports whether input values of scalar shape s need a check.
func (g *gen) constrained(s *Shape) bool {
	switch s.Type {
	case "string":
		return s.Min != nil || s.Max != nil || len(s.Enum) > 0 || g.patterns[s.Name]
	case "integer", "long", "double", "float":
		return s.Min != nil || s.Max != nil
	}
	return false
}

// wireName is the parameter/element name of member r: its locationName,
// or its name.
func wireName(r *Ref) string {
	if r.LocationName != "" {
		return r.LocationName
	}
	return r.Name
}

// altName is the second name of a member whose list or map shape has its own
// locationName. botocore (and the AWS API reference) name the member after
// the shape's locationName, while the Smithy-based SDKs (Go, Rust, Kotlin...)
// use the member name; keyward reads both and writes both.
func (g *gen) altName(r *Ref) string {
	s := g.m.Shapes[r.Shape]
	if r.LocationName == "" && s.LocationName != "" && s.LocationName != r.Name {
		return s.LocationName
	}
	return ""
}

// itemName is the element name of list items ("member" unless the model
// names it).
func itemName(s *Shape) string {
	if s.Member.LocationName != "" {
		return s.Member.LocationName
	}
	return "member"
}

// describe summarises the wire traits of a member for a field comment.
func (g *gen) describe(parent *Shape, r *Ref) string {
	var parts []string
	if parent.Required[r.Name] {
		parts = append(parts, "required")
	}
	if r.Deprecated {
		parts = append(parts, "deprecated")
	}
	s := g.m.Shapes[r.Shape]
	var traits []string
	if len(s.Enum) > 0 {
		traits = append(traits, "enum")
	}
	if s.Min != nil || s.Max != nil {
		what := "length"
		switch s.Type {
		case "list", "map":
			what = "count"
		case "integer", "long", "double", "float":
			what = "value"
		}
		traits = append(traits, what+" "+bounds(s.Min, s.Max))
	}
	if s.Pattern != "" {
		traits = append(traits, "pattern "+s.Pattern)
	}
	switch s.Type {
	case "list":
		how := "<" + itemName(s) + "> items"
		if s.Flattened {
			how = "flattened"
		}
		traits = append(traits, how)
	case "map":
		traits = append(traits, "map")
	}
	if alt := g.altName(r); alt != "" {
		traits = append(traits, "also named "+alt)
	}
	if r.LocationName != "" {
		traits = append(traits, "named "+r.LocationName)
	}
	plain := s.Type == "structure" || strings.EqualFold(s.Name, s.Type) ||
		strings.EqualFold(s.Name, s.Type+"Optional") || s.Name == "TStamp"
	if !plain || len(traits) > 0 {
		parts = append(parts, strings.TrimSpace(s.Name+" "+strings.Join(traits, ", ")))
	}
	return strings.Join(parts, "; ")
}

func bounds(min, max *int64) string {
	switch {
	case min != nil && max != nil:
		return fmt.Sprintf("%d..%d", *min, *max)
	case min != nil:
		return fmt.Sprintf("≥ %d", *min)
	default:
		return fmt.Sprintf("≤ %d", *max)
	}
}

// file collects the body and imports of one generated file.
type file struct {
	bytes.Buffer
	imports map[string]bool
}

func (f *file) p(format string, args ...any) {
	fmt.Fprintf(f, format, args...)
	f.WriteByte('\n')
}

func (f *file) use(pkg string) { f.imports[pkg] = true }

func (f *file) source(g *gen, name string) ([]byte, error) {
	var b bytes.Buffer
	from := ""
	if g.source != "" {
		from = " with the " + g.source + " overlay"
	}
	fmt.Fprintf(&b, "// Code generated by ecgen from the botocore elasticache %s model%s (sha256 %s). DO NOT EDIT.\n\n", g.m.APIVersion, from, g.hash)
	fmt.Fprintf(&b, "package %s\n\n", g.pkg)
	if bytes.Contains(f.Bytes(), []byte("time.Time")) {
		f.use("time")
	}
	if len(f.imports) > 0 {
		// Standard library first, then the module's packages.
		var std, mod []string
		for i := range f.imports {
			if first, _, _ := strings.Cut(i, "/"); first == "keyward" || strings.Contains(first, ".") {
				mod = append(mod, i)
			} else {
				std = append(std, i)
			}
		}
		sort.Strings(std)
		sort.Strings(mod)
		b.WriteString("import (\n")
		for _, i := range std {
			fmt.Fprintf(&b, "\t%q\n", i)
		}
		if len(std) > 0 && len(mod) > 0 {
			b.WriteString("\n")
		}
		for _, i := range mod {
			fmt.Fprintf(&b, "\t%q\n", i)
		}
		b.WriteString(")\n\n")
	}
	b.Write(f.Bytes())
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: gofmt: %w\n%s", name, err, numbered(b.Bytes()))
	}
	return src, nil
}

func numbered(src []byte) string {
	var b strings.Builder
	for i, l := range strings.Split(string(src), "\n") {
		fmt.Fprintf(&b, "%5d  %s\n", i+1, l)
	}
	return b.String()
}

// goString quotes s as a Go string literal, raw when that is possible.
func goString(s string) string {
	if !strings.ContainsAny(s, "`\r") && strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

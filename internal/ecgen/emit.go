package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func (g *gen) genTypes(f *file) error {
	for _, n := range g.structs {
		s := g.m.Shapes[n]
		tn := g.typeName(n)
		switch roles, parents := g.roles[n], g.parents(n); {
		case roles != "" && parents != "":
			f.p("// %s is %s, and part of %s.", tn, roles, parents)
		case roles != "":
			f.p("// %s is %s.", tn, roles)
		default:
			f.p("// %s is part of %s.", tn, parents)
		}
		if tn != n {
			f.p("// (The model names it %s.)", n)
		}
		f.p("type %s struct {", tn)
		for _, r := range s.Members {
			if g.m.Shapes[r.Shape].Type == "timestamp" {
				f.use("time")
			}
			if strings.Contains(g.elemType(r.Shape), "time.Time") {
				f.use("time")
			}
			if c := g.describe(s, r); c != "" {
				f.p("%s %s // %s", fieldName(r.Name), g.fieldType(r.Shape), c)
			} else {
				f.p("%s %s", fieldName(r.Name), g.fieldType(r.Shape))
			}
		}
		f.p("}\n")
	}
	for _, op := range g.m.Operations {
		if op.Input == "" {
			f.p("// %sInput is the (empty) input of %s, which the model gives none.", op.Name, op.Name)
			f.p("type %sInput struct{}\n", op.Name)
		}
	}
	return nil
}

// parents names the structures that contain shape n, directly or in a
// list or map.
func (g *gen) parents(n string) string {
	var names []string
	for _, p := range g.structs {
		for _, r := range g.m.Shapes[p].Members {
			if g.contains(r.Shape, n) {
				names = append(names, p)
				break
			}
		}
	}
	if len(names) > 4 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return joinList(names)
}

// contains reports whether a value of shape s is, or is a list or map of,
// shape n.
func (g *gen) contains(s, n string) bool {
	for {
		if s == n {
			return true
		}
		sh := g.m.Shapes[s]
		switch sh.Type {
		case "list":
			s = sh.Member.Shape
		case "map":
			s = sh.Value.Shape
		default:
			return false
		}
	}
}

// joinList joins names as "A", "A and B" or "A, B and C".
func joinList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func (g *gen) genEnums(f *file) error {
	var names []string
	for n, s := range g.m.Shapes {
		if len(s.Enum) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		f.p("// Values of %s.", n)
		f.p("const (")
		for _, v := range g.m.Shapes[n].Enum {
			f.p("%s = %s", enumConst(n, v), strconv.Quote(v))
		}
		f.p(")\n")
	}
	return nil
}

func (g *gen) genErrors(f *file) error {
	f.use("keyward/awsquery")
	f.p("// Compile-time proof that every fault is an awsquery.APIError.")
	f.p("var (")
	for _, n := range g.errs {
		f.p("_ awsquery.APIError = (*%s)(nil)", g.typeName(n))
	}
	f.p(")\n")
	f.p("// NewFault returns the fault of the model's error shape named shape")
	f.p("// (\"UserNotFoundFault\"...) with message, and whether the shape exists.")
	f.p("func NewFault(shape, message string) (awsquery.APIError, bool) {")
	f.p("switch shape {")
	for _, n := range g.errs {
		f.p("case %q:", n)
		f.p("return &%s{Message: message}, true", g.typeName(n))
	}
	f.p("}")
	f.p("return nil, false")
	f.p("}\n")
	for _, n := range g.errs {
		s := g.m.Shapes[n]
		tn := g.typeName(n)
		code, status, sender := n, 400, true
		if s.Error != nil {
			code, status, sender = s.Error.Code, s.Error.Status, s.Error.SenderFault
		}
		fault := "Receiver"
		if sender {
			fault = "Sender"
		}
		f.p("// %s is the model's error %s: code %s, HTTP status %d, %s fault.", tn, n, code, status, strings.ToLower(fault))
		f.p("type %s struct {", tn)
		f.p("Message string")
		f.p("}\n")
		f.p("// ErrorCode returns %q.", code)
		f.p("func (e *%s) ErrorCode() string { return %q }\n", tn, code)
		f.p("// ErrorMessage returns e.Message.")
		f.p("func (e *%s) ErrorMessage() string {", tn)
		f.p("if e == nil { return \"\" }")
		f.p("return e.Message")
		f.p("}\n")
		f.p("// HTTPStatus returns %d.", status)
		f.p("func (e *%s) HTTPStatus() int { return %d }\n", tn, status)
		f.p("// ErrorFault returns %q.", fault)
		f.p("func (e *%s) ErrorFault() string { return %q }\n", tn, fault)
		f.p("// Error returns \"%s: \" followed by the message.", code)
		f.p("func (e *%s) Error() string { return %q + e.ErrorMessage() }\n", tn, code+": ")
	}
	return nil
}

// ---- decoding --------------------------------------------------------------

func (g *gen) sortedIn() []string {
	var names []string
	for n := range g.in {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (g *gen) genDecode(f *file) error {
	f.use("keyward/awsquery")
	if len(g.skipped) > 0 {
		f.p("// Patterns of the model that Go's regexp cannot compile; their values")
		f.p("// are not checked:")
		for _, s := range g.skipped {
			f.p("//   - %s", s)
		}
		f.p("")
	}
	names := g.sortedIn()
	// Patterns, compiled once. As in Smithy, they are not anchored: a value
	// is valid when the pattern matches part of it.
	var pats, classes []string
	for _, n := range names {
		if !g.patterns[n] {
			continue
		}
		if always, class, ok := simplePattern(g.m.Shapes[n].Pattern); ok && !always && class != nil {
			classes = append(classes, n)
		} else if !ok {
			pats = append(pats, n)
		}
	}
	if len(pats) > 0 {
		f.use("regexp")
		f.p("// Patterns of the model's string shapes. As in Smithy, a pattern is not")
		f.p("// anchored: a value is valid when the pattern matches part of it.")
		f.p("var (")
		for _, n := range pats {
			f.p("pattern%s = regexp.MustCompile(%s)", n, goString(g.m.Shapes[n].Pattern))
		}
		f.p(")\n")
	}
	// Patterns that come down to "holds a rune of this class" (see
	// simplePattern in the generator) are checked by a loop.
	for _, n := range classes {
		_, class, _ := simplePattern(g.m.Shapes[n].Pattern)
		f.p("// inPattern%s reports whether r is in the class a value of %s must hold", n, n)
		f.p("// a rune of: the unanchored pattern %s comes down to that.", goString(g.m.Shapes[n].Pattern))
		f.p("func inPattern%s(r rune) bool { return %s }\n", n, classExpr(class))
	}
	for _, n := range names {
		s := g.m.Shapes[n]
		switch s.Type {
		case "structure":
			g.decodeStruct(f, s)
		case "list":
			g.decodeList(f, s)
		case "map":
			g.decodeMap(f, s)
		default:
			if g.constrained(s) {
				g.checkScalar(f, s)
			}
		}
	}
	return nil
}

// parseScalar emits code that parses the string in variable sv for parameter
// name expression key into a new variable x of the shape's Go type, and
// runs its checks. On failure it returns fail followed by err.
func (g *gen) parseScalar(f *file, s *Shape, key, sv, fail string) {
	ret := func() string {
		if fail == "" {
			return "return err"
		}
		return "return " + fail + ", err"
	}
	parse := map[string]string{
		"integer": "ParseInt32", "long": "ParseInt64", "boolean": "ParseBool",
		"double": "ParseFloat64", "float": "ParseFloat32", "timestamp": "ParseTime", "blob": "ParseBlob",
	}
	if s.Type == "string" {
		f.p("x := %s", sv)
		if g.constrained(s) {
			f.p("if err := check%s(%s, x); err != nil { %s }", s.Name, key, ret())
		}
		return
	}
	f.p("x, err := awsquery.%s(%s, %s)", parse[s.Type], key, sv)
	f.p("if err != nil { %s }", ret())
	if g.constrained(s) {
		f.p("if err := check%s(%s, %s, x); err != nil { %s }", s.Name, key, sv, ret())
	}
}

func (g *gen) checkScalar(f *file, s *Shape) {
	if s.Type == "string" {
		f.p("// check%s checks a value of the model's string shape %s.", s.Name, s.Name)
		f.p("func check%s(name, s string) error {", s.Name)
		if len(s.Enum) > 0 {
			f.p("switch s {")
			var consts, quoted []string
			for _, v := range s.Enum {
				consts = append(consts, enumConst(s.Name, v))
				quoted = append(quoted, strconv.Quote(v))
			}
			f.p("case %s:", strings.Join(consts, ", "))
			f.p("default:")
			if msg, ok := enumMessages[s.Name]; ok {
				f.p("return awsquery.InvalidEnumMessage(%s, s)", strconv.Quote(msg))
			} else {
				f.p("return awsquery.InvalidEnum(name, s, %s)", strings.Join(quoted, ", "))
			}
			f.p("}")
		}
		if s.Min != nil || s.Max != nil {
			f.use("unicode/utf8")
			f.p("n := int64(utf8.RuneCountInString(s))")
			if s.Min != nil {
				f.p("if n < %d { return awsquery.TooShort(name, %d) }", *s.Min, *s.Min)
			}
			if s.Max != nil {
				f.p("if n > %d { return awsquery.TooLong(name, %d) }", *s.Max, *s.Max)
			}
		}
		if g.patterns[s.Name] {
			switch always, _, ok := simplePattern(s.Pattern); {
			case ok && always:
				f.p("// The unanchored pattern %s matches every value.", goString(s.Pattern))
			case ok:
				f.use("strings")
				f.p("if !strings.ContainsFunc(s, inPattern%s) { return awsquery.PatternMismatch(name, s, %s) }", s.Name, goString(s.Pattern))
			default:
				f.p("if !pattern%s.MatchString(s) { return awsquery.PatternMismatch(name, s, %s) }", s.Name, goString(s.Pattern))
			}
		}
		f.p("return nil")
		f.p("}\n")
		return
	}
	f.p("// check%s checks the range of a value of the model's shape %s.", s.Name, s.Name)
	f.p("func check%s(name, s string, x %s) error {", s.Name, g.elemType(s.Name))
	var conds []string
	lo, hi := `""`, `""`
	if s.Min != nil {
		conds = append(conds, fmt.Sprintf("x < %d", *s.Min))
		lo = strconv.Quote(strconv.FormatInt(*s.Min, 10))
	}
	if s.Max != nil {
		conds = append(conds, fmt.Sprintf("x > %d", *s.Max))
		hi = strconv.Quote(strconv.FormatInt(*s.Max, 10))
	}
	f.p("if %s { return awsquery.OutOfRange(name, s, %s, %s) }", strings.Join(conds, " || "), lo, hi)
	f.p("return nil")
	f.p("}\n")
}

// itemsExpr is the expression of the prefix of the list items (or map
// entries) of a list or map s whose parameter name is base + wire (wire may
// be "" when base is the whole name).
func itemsExpr(s *Shape, base, wire string) string {
	join := func(suffix string) string {
		if wire+suffix == "" {
			return base
		}
		return base + " + " + strconv.Quote(wire+suffix)
	}
	switch s.Type {
	case "list":
		if s.Flattened {
			if s.Member.LocationName != "" && wire != "" {
				return base + " + " + strconv.Quote(s.Member.LocationName)
			}
			return join("")
		}
		return join("." + itemName(s))
	case "map":
		if s.Flattened {
			return join("")
		}
		return join(".entry")
	}
	panic("itemsExpr: " + s.Type)
}

func (g *gen) decodeStruct(f *file, s *Shape) {
	tn := g.typeName(s.Name)
	f.p("// decode%s decodes a %s whose parameters start with p (\"\" or \"Name.\").", s.Name, tn)
	f.p("func decode%s(d *awsquery.Decoder, p string, v *%s) error {", s.Name, tn)
	for _, r := range s.Members {
		ms := g.m.Shapes[r.Shape]
		field := "v." + fieldName(r.Name)
		key := "p + " + strconv.Quote(wireName(r))
		missing := ""
		if s.Required[r.Name] {
			missing = fmt.Sprintf("return awsquery.MissingParameter(%s)", key)
		}
		switch ms.Type {
		case "structure":
			f.p("if d.Has(%s) {", key)
			f.p("%s = new(%s)", field, g.typeName(ms.Name))
			f.p("if err := decode%s(d, %s, %s); err != nil { return err }", ms.Name, "p + "+strconv.Quote(wireName(r)+"."), field)
			if missing != "" {
				f.p("} else { %s }", missing)
			} else {
				f.p("}")
			}
		case "list", "map":
			f.p("{")
			f.p("x, err := decode%s(d, %s, %s)", ms.Name, key, itemsExpr(ms, "p", wireName(r)))
			f.p("if err != nil { return err }")
			if alt := g.altName(r); alt != "" {
				akey := "p + " + strconv.Quote(alt)
				f.p("if x == nil {")
				f.p("if x, err = decode%s(d, %s, %s); err != nil { return err }", ms.Name, akey, itemsExpr(ms, "p", alt))
				f.p("}")
			}
			if missing != "" {
				f.p("if x == nil { %s }", missing)
			}
			f.p("%s = x", field)
			f.p("}")
		default:
			f.p("if s, ok := d.Value(%s); ok {", key)
			g.parseScalar(f, ms, key, "s", "")
			if ms.Type == "blob" {
				f.p("%s = x", field)
			} else {
				f.p("%s = &x", field)
			}
			if missing != "" {
				f.p("} else { %s }", missing)
			} else {
				f.p("}")
			}
		}
	}
	f.p("return nil")
	f.p("}\n")
}

// decodeElem emits code that decodes the element (list item or map value)
// of shape es at parameter name expression k into a new variable x, or, for
// list items, breaks out of the loop when it is absent.
func (g *gen) decodeElem(f *file, es *Shape, k string, absent string) {
	switch es.Type {
	case "structure":
		f.p("if !d.Has(%s) { %s }", k, absent)
		f.p("var x %s", g.typeName(es.Name))
		f.p("if err := decode%s(d, %s + \".\", &x); err != nil { return nil, err }", es.Name, k)
	case "list", "map":
		f.p("if !d.Has(%s) { %s }", k, absent)
		f.p("x, err := decode%s(d, %s, %s)", es.Name, k, itemsExpr(es, k, ""))
		f.p("if err != nil { return nil, err }")
		f.p("if x == nil { x = %s{} }", g.elemType(es.Name))
	default:
		f.p("s, ok := d.Value(%s)", k)
		f.p("if !ok { %s }", absent)
		g.parseScalar(f, es, k, "s", "nil")
	}
}

func (g *gen) countChecks(f *file, s *Shape) {
	if s.Min != nil {
		f.p("if int64(len(out)) < %d { return nil, awsquery.TooFew(key, %d) }", *s.Min, *s.Min)
	}
	if s.Max != nil {
		f.p("if int64(len(out)) > %d { return nil, awsquery.TooMany(key, %d) }", *s.Max, *s.Max)
	}
}

func (g *gen) decodeList(f *file, s *Shape) {
	et := g.elemType(s.Member.Shape)
	es := g.m.Shapes[s.Member.Shape]
	f.p("// decode%s decodes the list %s named key whose items are named items.1,", s.Name, s.Name)
	f.p("// items.2... It returns nil when the list is absent and an empty list")
	f.p("// when it was sent empty (a bare \"key=\").")
	f.p("func decode%s(d *awsquery.Decoder, key, items string) ([]%s, error) {", s.Name, et)
	f.p("var out []%s", et)
	// Has first: no item names are built for a list that was not sent.
	f.p("for i := 1; i > 1 || d.Has(items); i++ {")
	f.p("k := awsquery.Item(items, i)")
	g.decodeElem(f, es, "k", "break")
	f.p("out = append(out, x)")
	f.p("}")
	f.p("if out == nil {")
	f.p("if _, ok := d.Value(key); !ok { return nil, nil }")
	f.p("out = []%s{}", et)
	f.p("}")
	g.countChecks(f, s)
	f.p("return out, nil")
	f.p("}\n")
}

func (g *gen) decodeMap(f *file, s *Shape) {
	vt := g.elemType(s.Value.Shape)
	ks, vs := g.m.Shapes[s.Key.Shape], g.m.Shapes[s.Value.Shape]
	kn, vn := "key", "value"
	if s.Key.LocationName != "" {
		kn = s.Key.LocationName
	}
	if s.Value.LocationName != "" {
		vn = s.Value.LocationName
	}
	f.p("// decode%s decodes the map %s named key whose entries are named", s.Name, s.Name)
	f.p("// entries.N.%s and entries.N.%s. It returns nil when the map is absent.", kn, vn)
	f.p("func decode%s(d *awsquery.Decoder, key, entries string) (map[string]%s, error) {", s.Name, vt)
	f.p("var out map[string]%s", vt)
	f.p("for i := 1; i > 1 || d.Has(entries); i++ {")
	f.p("e := awsquery.Item(entries, i)")
	f.p("ks, ok := d.Value(e + %q)", "."+kn)
	f.p("if !ok { break }")
	if g.constrained(ks) {
		f.p("if err := check%s(e + %q, ks); err != nil { return nil, err }", ks.Name, "."+kn)
	}
	f.p("k := e + %q", "."+vn)
	g.decodeElem(f, vs, "k", "return nil, awsquery.MissingParameter(k)")
	f.p("if out == nil { out = map[string]%s{} }", vt)
	f.p("out[ks] = x")
	f.p("}")
	f.p("if out == nil {")
	f.p("if _, ok := d.Value(key); !ok { return nil, nil }")
	f.p("out = map[string]%s{}", vt)
	f.p("}")
	g.countChecks(f, s)
	f.p("return out, nil")
	f.p("}\n")
}

// ---- encoding --------------------------------------------------------------

func (g *gen) genEncode(f *file) error {
	f.use("keyward/awsquery")
	var names []string
	for n := range g.out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := g.m.Shapes[n]
		switch s.Type {
		case "structure":
			g.encodeStruct(f, s)
		case "list":
			g.encodeList(f, s)
		case "map":
			f.use("slices")
			f.use("maps")
			g.encodeMap(f, s)
		}
	}
	return nil
}

// encodeValue emits code writing value expression v (not a pointer) of
// shape s as element name (a Go expression).
func (g *gen) encodeValue(f *file, s *Shape, name, v string) {
	switch s.Type {
	case "string":
		f.p("w.String(%s, %s)", name, v)
	case "integer":
		f.p("w.Int32(%s, %s)", name, v)
	case "long":
		f.p("w.Int64(%s, %s)", name, v)
	case "boolean":
		f.p("w.Bool(%s, %s)", name, v)
	case "double":
		f.p("w.Float64(%s, %s)", name, v)
	case "float":
		f.p("w.Float32(%s, %s)", name, v)
	case "timestamp":
		f.p("w.Time(%s, %s)", name, v)
	case "blob":
		f.p("w.Blob(%s, %s)", name, v)
	case "structure":
		f.p("w.Start(%s)", name)
		f.p("encode%s(w, &%s)", s.Name, v)
		f.p("w.End(%s)", name)
	case "list", "map":
		f.p("encode%s(w, %s, %s)", s.Name, name, v)
	}
}

func (g *gen) encodeStruct(f *file, s *Shape) {
	tn := g.typeName(s.Name)
	f.p("// encode%s writes the members of v (not the enclosing element).", s.Name)
	f.p("func encode%s(w *awsquery.XMLWriter, v *%s) {", s.Name, tn)
	for _, r := range s.Members {
		ms := g.m.Shapes[r.Shape]
		field := "v." + fieldName(r.Name)
		name := strconv.Quote(wireName(r))
		switch ms.Type {
		case "list", "map", "blob":
			f.p("if %s != nil {", field)
			g.encodeValue(f, ms, name, field)
			if alt := g.altName(r); alt != "" {
				g.encodeValue(f, ms, strconv.Quote(alt), field)
			}
			f.p("}")
		case "structure":
			f.p("if %s != nil {", field)
			f.p("w.Start(%s)", name)
			f.p("encode%s(w, %s)", ms.Name, field)
			f.p("w.End(%s)", name)
			f.p("}")
		default:
			f.p("if %s != nil {", field)
			g.encodeValue(f, ms, name, "*"+field)
			f.p("}")
		}
	}
	f.p("}\n")
}

func (g *gen) encodeList(f *file, s *Shape) {
	es := g.m.Shapes[s.Member.Shape]
	f.p("// encode%s writes the list v as element name.", s.Name)
	f.p("func encode%s(w *awsquery.XMLWriter, name string, v []%s) {", s.Name, g.elemType(es.Name))
	if s.Flattened {
		item := "name"
		if s.Member.LocationName != "" {
			item = strconv.Quote(s.Member.LocationName)
		}
		f.p("for i := range v {")
		g.encodeValue(f, es, item, "v[i]")
		f.p("}")
	} else {
		f.p("w.Start(name)")
		f.p("for i := range v {")
		g.encodeValue(f, es, strconv.Quote(itemName(s)), "v[i]")
		f.p("}")
		f.p("w.End(name)")
	}
	f.p("}\n")
}

func (g *gen) encodeMap(f *file, s *Shape) {
	vs := g.m.Shapes[s.Value.Shape]
	kn, vn := "key", "value"
	if s.Key.LocationName != "" {
		kn = s.Key.LocationName
	}
	if s.Value.LocationName != "" {
		vn = s.Value.LocationName
	}
	f.p("// encode%s writes the map v as element name, entries sorted by key.", s.Name)
	f.p("func encode%s(w *awsquery.XMLWriter, name string, v map[string]%s) {", s.Name, g.elemType(vs.Name))
	entry := `"entry"`
	if s.Flattened {
		entry = "name"
	} else {
		f.p("w.Start(name)")
	}
	f.p("for _, k := range slices.Sorted(maps.Keys(v)) {")
	f.p("w.Start(%s)", entry)
	f.p("w.String(%q, k)", kn)
	f.p("x := v[k]")
	g.encodeValue(f, vs, strconv.Quote(vn), "x")
	f.p("w.End(%s)", entry)
	f.p("}")
	if !s.Flattened {
		f.p("w.End(name)")
	}
	f.p("}\n")
}

// ---- service ---------------------------------------------------------------

func (g *gen) inType(op *Operation) string {
	if op.Input == "" {
		return op.Name + "Input"
	}
	return g.typeName(op.Input)
}

func (g *gen) genService(f *file) error {
	f.use("context")
	f.use("net/http")
	f.use("keyward/awsquery")
	m := g.m
	f.p("// APIVersion is the only Version this API accepts.")
	f.p("const APIVersion = %q\n", m.APIVersion)
	f.p("// XMLNamespace is the xmlns of every response document.")
	f.p("const XMLNamespace = %q\n", m.XMLNamespace)
	f.p("// API describes the %s Query API to the awsquery runtime; its WriteError", m.ServiceFullName)
	f.p("// and WriteResult write documents in the API's namespace.")
	f.p("var API = awsquery.API{Name: %q, Version: APIVersion, Namespace: XMLNamespace}\n", m.SignatureName)
	f.p("// Operations lists the names of the %d operations of the model, sorted.", len(m.Operations))
	f.p("var Operations = []string{")
	for _, op := range m.Operations {
		f.p("%q,", op.Name)
	}
	f.p("}\n")

	f.p("// Service is the %s API: one method per operation, taking the", m.ServiceFullName)
	f.p("// operation's input shape and returning its output shape. A method's error")
	f.p("// reaches the client as is when it is an awsquery.APIError (the fault types")
	f.p("// of this package, awsquery.Error); any other error becomes an opaque")
	f.p("// InternalFailure. Implementations embed UnimplementedService and override")
	f.p("// the operations they serve.")
	f.p("type Service interface {")
	for _, op := range m.Operations {
		f.p("%s", g.signature(op))
	}
	f.p("}\n")

	f.p("// UnimplementedService answers every operation with awsquery.NotImplemented.")
	f.p("type UnimplementedService struct{}\n")
	f.p("var _ Service = UnimplementedService{}\n")
	for _, op := range m.Operations {
		f.p("// %s returns awsquery.NotImplemented(%q).", op.Name, op.Name)
		if op.Output == "" {
			f.p("func (UnimplementedService) %s(ctx context.Context, in *%s) error { return awsquery.NotImplemented(%q) }\n", op.Name, g.inType(op), op.Name)
		} else {
			f.p("func (UnimplementedService) %s(ctx context.Context, in *%s) (*%s, error) { return nil, awsquery.NotImplemented(%q) }\n", op.Name, g.inType(op), g.typeName(op.Output), op.Name)
		}
	}

	f.use("fmt")
	f.p("// ServiceFunc adapts one function to Service: every operation calls it with")
	f.p("// the operation's name and input (*CreateUserMessage...) and expects the")
	f.p("// operation's output (*User...) or nil back. It suits fakes, proxies and")
	f.p("// decorators. An output of the wrong type is an (internal) error.")
	f.p("type ServiceFunc func(ctx context.Context, op string, in any) (any, error)\n")
	f.p("var _ Service = ServiceFunc(nil)\n")
	f.p("func serviceFuncOutput[T any](op string, out any, err error) (*T, error) {")
	f.p("if err != nil || out == nil { return nil, err }")
	f.p("o, ok := out.(*T)")
	f.p("if !ok { return nil, fmt.Errorf(\"ecapi.ServiceFunc: %%s returned %%T, want %%T\", op, out, o) }")
	f.p("return o, nil")
	f.p("}\n")
	for _, op := range m.Operations {
		f.p("// %s calls f(ctx, %q, in).", op.Name, op.Name)
		if op.Output == "" {
			f.p("func (f ServiceFunc) %s(ctx context.Context, in *%s) error {", op.Name, g.inType(op))
			f.p("_, err := f(ctx, %q, in)", op.Name)
			f.p("return err")
			f.p("}\n")
		} else {
			f.p("func (f ServiceFunc) %s(ctx context.Context, in *%s) (*%s, error) {", op.Name, g.inType(op), g.typeName(op.Output))
			f.p("out, err := f(ctx, %q, in)", op.Name)
			f.p("return serviceFuncOutput[%s](%q, out, err)", g.typeName(op.Output), op.Name)
			f.p("}\n")
		}
	}

	f.p("// NewHandler returns the HTTP handler of the API, serving svc. See")
	f.p("// awsquery.NewHandler for what it does around the operations.")
	f.p("func NewHandler(svc Service, opts awsquery.Options) http.Handler {")
	f.p("return awsquery.NewHandler(API, operationFuncs(svc), opts)")
	f.p("}\n")
	f.p("// operationFuncs returns the dispatch table of svc: one awsquery.OperationFunc")
	f.p("// per operation, which decodes the input, calls svc and encodes the output.")
	f.p("func operationFuncs(svc Service) map[string]awsquery.OperationFunc {")
	f.p("return map[string]awsquery.OperationFunc{")
	for _, op := range m.Operations {
		f.p("%q: func(ctx context.Context, d *awsquery.Decoder, w *awsquery.XMLWriter) error {", op.Name)
		f.p("in := new(%s)", g.inType(op))
		if op.Input != "" {
			f.p("if err := decode%s(d, \"\", in); err != nil { return err }", op.Input)
		}
		if op.Output == "" {
			f.p("return svc.%s(ctx, in)", op.Name)
		} else {
			f.p("out, err := svc.%s(ctx, in)", op.Name)
			f.p("if err != nil { return err }")
			f.p("if out == nil { out = new(%s) }", g.typeName(op.Output))
			f.p("w.Start(%q)", op.ResultWrapper)
			f.p("encode%s(w, out)", op.Output)
			f.p("w.End(%q)", op.ResultWrapper)
			f.p("return nil")
		}
		f.p("},")
	}
	f.p("}")
	f.p("}")
	return nil
}

func (g *gen) signature(op *Operation) string {
	doc := fmt.Sprintf("// %s serves the %s action", op.Name, op.Name)
	if op.Output == "" {
		return fmt.Sprintf("%s, which has no output.\n%s(ctx context.Context, in *%s) error\n", doc, op.Name, g.inType(op))
	}
	return fmt.Sprintf("%s; its output is sent in <%s>.\n%s(ctx context.Context, in *%s) (*%s, error)\n", doc, op.ResultWrapper, op.Name, g.inType(op), g.typeName(op.Output))
}

// enumMessages are the messages ElastiCache answers, for the enum shapes
// whose refusal is known on the wire (../shared/spec/rbac.md, (O) XP#151),
// instead of the generic one; %s is the value.
var enumMessages = map[string]string{
	"InputAuthenticationType": "Input Authentication type: %s is not in the allowed list: [password,no-password-required,iam]",
}

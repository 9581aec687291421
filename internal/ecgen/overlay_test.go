package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOverlayUpToDate derives the overlay from the aws-sdk-go-v2 module
// go.mod requires (from the module cache, downloaded if needed) and
// compares it with the committed one: bumping the SDK without `go generate
// ./ecapi` fails here.
func TestOverlayUpToDate(t *testing.T) {
	got, err := overlayFor(modelPath, "module")
	if err != nil {
		t.Fatal(err)
	}
	_, want := committedInputs(t)
	if !bytes.Equal(got, want) {
		t.Errorf("ecapi/model/aws-sdk-go-v2.json differs from what the SDK module in go.mod yields (line %d); run `go generate ./ecapi`", firstDiffLine(got, want))
	}
}

// TestReadSDKRealModule checks what readSDK finds in the real module
// against facts of its source (the AWS API reference says the same).
func TestReadSDKRealModule(t *testing.T) {
	dir, version, err := moduleDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdkModuleVersion(dir); err != nil {
		t.Fatal(err)
	}
	sdk, err := readSDK(dir)
	if err != nil {
		t.Fatal(err)
	}
	if version != "v1.65.0" {
		t.Logf("module version %s", version)
	}
	if len(sdk.Operations) < 77 {
		t.Errorf("%d operations", len(sdk.Operations))
	}
	pm := sdk.Operations["PrepareMigration"]
	if pm == nil || pm.Input != "PrepareMigrationRequest" || pm.Output != "PrepareMigrationResponse" {
		t.Fatalf("PrepareMigration = %+v", pm)
	}
	if r := sdk.Required["PrepareMigrationRequest"]; !sameSet(r, []string{"ServerlessCacheName", "CustomerNodeEndpointList"}) {
		t.Errorf("PrepareMigrationRequest required %v", r)
	}
	if dp := sdk.Operations["DeleteCacheParameterGroup"]; dp == nil || dp.Output != "" {
		t.Errorf("DeleteCacheParameterGroup = %+v, want no output", dp)
	}
	if e := sdk.Shapes["UserNotFoundFault"].Error; e == nil || *e != (ErrorTrait{Code: "UserNotFound", Status: 404, SenderFault: true}) {
		t.Errorf("UserNotFoundFault error %+v", e)
	}
	if tm := sdk.Shapes["TlsMode"]; tm == nil || tm.Type != "enum" || strings.Join(tm.Enum, ",") != "none,verify-ca" {
		t.Errorf("TlsMode = %+v", tm)
	}
	cl := sdk.Shapes["CacheClusterList"]
	if cl == nil || len(cl.Members) != 1 || cl.Members[0].Target != "CacheCluster" || cl.Members[0].XMLName != "CacheCluster" {
		t.Errorf("CacheClusterList = %+v", cl)
	}
}

// A miniature SDK module: one shape gains a member, loses a required
// member and an enum gains a value; a new operation with new shapes and a
// new fault.
var miniSDK = map[string]string{
	"schemas/schemas.go": `package schemas

import (
	smithy "github.com/aws/smithy-go"
	smithyprelude "github.com/aws/smithy-go/prelude"
	smithytraits "github.com/aws/smithy-go/traits"
)

var Old = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "Old"}, smithy.ShapeTypeOperation, 0)
var New = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "New"}, smithy.ShapeTypeOperation, 0)
var OldMessage = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "OldMessage"}, smithy.ShapeTypeStructure, 3)
var OldMessage_Id *smithy.Schema
var NewRequest = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "NewRequest"}, smithy.ShapeTypeStructure, 1)
var _Names = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "Names"}, smithy.ShapeTypeList, 1)
var Kind = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "Kind"}, smithy.ShapeTypeEnum, 2)
var _Name = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "Name"}, smithy.ShapeTypeString, 0)
var BusyFault = smithy.NewSchema(smithy.ShapeID{Namespace: "com.amazonaws.elasticache", Name: "BusyFault"}, smithy.ShapeTypeStructure, 1,
	&smithytraits.Error{Type: "client"}, &smithytraits.HTTPError{Code: 409}, &smithytraits.AWSQueryError{ErrorCode: "Busy", StatusCode: 409})

func init() {
	OldMessage_Id = OldMessage.AddMember("Id", _Name)
	OldMessage_Kind = OldMessage.AddMember("Kind", Kind)
	OldMessage_Names = OldMessage.AddMember("Names", _Names)
	NewRequest_Id = NewRequest.AddMember("Id", _Name)
	_Names_member = _Names.AddMember("member", _Name, &smithytraits.XMLName{Name: "Name"})
	Kind_A = Kind.AddMember("A", smithyprelude.Unit)
	Kind_B = Kind.AddMember("B", smithyprelude.Unit)
	BusyFault_message = BusyFault.AddMember("message", _Name)
}
`,
	"types/enums.go": `package types

type Kind string

const (
	KindA Kind = "a"
	KindB Kind = "b"
)
`,
	"api_op_Old.go": `package x

func f() { _ = smithy.NewOperationSchema(schemas.Old, schemas.OldMessage, nil) }
`,
	"api_op_New.go": `package x

func f() { _ = smithy.NewOperationSchema(schemas.New, schemas.NewRequest, schemas.OldMessage) }
`,
	"validators.go": `package x

func validateOpNewInput(v *NewInput) error {
	if v.Id == nil {
		invalidParams.Add(smithy.NewErrParamRequired("Id"))
	}
	return nil
}
`,
}

const miniBase = `{"metadata": {"apiVersion": "1", "protocol": "query", "xmlNamespace": "ns"},
"operations": {"Old": {"name": "Old", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "OldMessage"}}},
"shapes": {
 "OldMessage": {"type": "structure", "required": ["Id"], "members": {"Id": {"shape": "Name"}, "Kind": {"shape": "Kind"}}},
 "Kind": {"type": "string", "enum": ["a"]},
 "Name": {"type": "string", "pattern": "^[a-z]+$", "max": 10}
}}`

func writeMiniSDK(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "elasticache@v9.9.9")
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDeriveAndMergeOverlay(t *testing.T) {
	dir := writeMiniSDK(t, miniSDK)
	version, err := sdkModuleVersion(dir)
	if err != nil || version != "v9.9.9" {
		t.Fatalf("version %q, %v", version, err)
	}
	sdk, err := readSDK(dir)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := deriveOverlay([]byte(miniBase), sdk, sdkModule, version)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Source     map[string]string
		Operations map[string]json.RawMessage
		Shapes     map[string]json.RawMessage
	}
	if err := json.Unmarshal(ov, &got); err != nil {
		t.Fatalf("%v\n%s", err, ov)
	}
	if got.Source["version"] != "v9.9.9" || got.Source["module"] != sdkModule {
		t.Errorf("source %v", got.Source)
	}
	want := map[string]string{
		// Id is no longer required (Old has no validator), Names is new.
		"OldMessage": `{"type":"structure","members":{"Id":{"shape":"Name"},"Kind":{"shape":"Kind"},"Names":{"shape":"Names"}}}`,
		"Kind":       `{"type":"string","enum":["a","b"]}`,
		"Names":      `{"type":"list","member":{"shape":"Name","locationName":"Name"}}`,
		"NewRequest": `{"type":"structure","required":["Id"],"members":{"Id":{"shape":"Name"}}}`,
		"BusyFault":  `{"type":"structure","members":{},"error":{"code":"Busy","httpStatusCode":409,"senderFault":true},"exception":true}`,
	}
	for name, w := range want {
		var c bytes.Buffer
		if err := json.Compact(&c, got.Shapes[name]); err != nil || c.String() != w {
			t.Errorf("shape %s = %s, want %s", name, c.String(), w)
		}
	}
	if _, ok := got.Shapes["Name"]; ok {
		t.Error("Name (unchanged, its pattern kept) is in the overlay")
	}
	if len(got.Shapes) != len(want) {
		t.Errorf("%d shapes in the overlay, want %d", len(got.Shapes), len(want))
	}
	if _, ok := got.Operations["New"]; !ok || len(got.Operations) != 1 {
		t.Errorf("operations %v", got.Operations)
	}

	// Generation from base + overlay: the new operation, the fault, the
	// pattern of the botocore shape all reach the code.
	files, err := generate([]byte(miniBase), ov, "mini")
	if err != nil {
		t.Fatal(err)
	}
	for file, frag := range map[string]string{
		"service_gen.go": "New(ctx context.Context, in *NewRequest) (*OldMessage, error)",
		"errors_gen.go":  `func (e *BusyFault) ErrorCode() string { return "Busy" }`,
		"enums_gen.go":   `KindB = "b"`,
		"decode_gen.go":  `^[a-z]+$`,
	} {
		if !bytes.Contains(files[file], []byte(frag)) {
			t.Errorf("%s lacks %q", file, frag)
		}
	}
	if !bytes.Contains(files["service_gen.go"], []byte("with the "+sdkModule+"@v9.9.9 overlay (sha256 ")) {
		t.Errorf("header does not name the overlay:\n%s", bytes.SplitN(files["service_gen.go"], []byte("\n"), 2)[0])
	}
}

func TestDeriveOverlayRefusesRemovals(t *testing.T) {
	files := map[string]string{}
	for k, v := range miniSDK {
		files[k] = v
	}
	// The SDK drops member Kind of OldMessage: ecgen must not silently
	// drop it from the wire.
	files["schemas/schemas.go"] = strings.Replace(files["schemas/schemas.go"], "\tOldMessage_Kind = OldMessage.AddMember(\"Kind\", Kind)\n", "", 1)
	sdk, err := readSDK(writeMiniSDK(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deriveOverlay([]byte(miniBase), sdk, sdkModule, "v9.9.9"); err == nil || !strings.Contains(err.Error(), "member Kind") {
		t.Errorf("err = %v, want a refusal naming member Kind", err)
	}
	// An unknown trait fails too.
	files = map[string]string{}
	for k, v := range miniSDK {
		files[k] = v
	}
	files["schemas/schemas.go"] = strings.Replace(files["schemas/schemas.go"], `&smithytraits.XMLName{Name: "Name"}`, `&smithytraits.XMLFlattened{}`, 1)
	if _, err := readSDK(writeMiniSDK(t, files)); err == nil || !strings.Contains(err.Error(), "XMLFlattened") {
		t.Errorf("err = %v, want a refusal naming XMLFlattened", err)
	}
}

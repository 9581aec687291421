package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedUpToDate fails when catalog/catalog_gen.go differs from what
// the committed TSV sources generate: the tables are never edited by hand,
// they are regenerated with `go generate ./catalog`.
func TestGeneratedUpToDate(t *testing.T) {
	want, err := generate(os.DirFS("../../catalog/data"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../catalog/catalog_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("catalog/catalog_gen.go differs from what catalogen generates; run `go generate ./catalog`")
	}
}

// Command ecgen generates keyward's ElastiCache wire layer (package ecapi)
// from the botocore model of the API, brought up to date with the
// aws-sdk-go-v2 service module by an overlay.
//
// Trim the botocore model (drops all prose, keeps every wire trait) and
// write it with its README:
//
//	go run ./internal/ecgen -trim <botocore>/data/elasticache/2015-02-02/service-2.json.gz -out ecapi/model/service-2.json
//
// Derive the overlay from the Go source of the aws-sdk-go-v2
// service/elasticache module: the operations, shapes, members, enum values
// and required members it has beyond the trimmed model. -sdk takes the
// module's directory, or "module" for the version go.mod requires (read
// from the module cache, downloaded into it if needed):
//
//	go run ./internal/ecgen -model ecapi/model/service-2.json -sdk module -overlay ecapi/model/aws-sdk-go-v2.json
//
// Generate the Go code of package ecapi from the trimmed model and the
// overlay (`go generate ./ecapi` runs both steps):
//
//	go run ./internal/ecgen -model ecapi/model/service-2.json -overlay ecapi/model/aws-sdk-go-v2.json -out ecapi
//
// The generated files are named *_gen.go, are gofmt'ed and deterministic,
// and start with a "Code generated ... DO NOT EDIT." line naming the SHA-256
// of the model and overlay they come from. Tests in this package fail when
// the committed files differ from what the committed model and overlay
// generate, and when the overlay differs from what the module in go.mod
// yields.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// sdkModule is the aws-sdk-go-v2 module the overlay is derived from.
const sdkModule = "github.com/aws/aws-sdk-go-v2/service/elasticache"

func main() {
	trim := flag.String("trim", "", "botocore service-2.json(.gz) to trim into -out")
	model := flag.String("model", "", "trimmed model to generate Go code from (or to derive the overlay against)")
	overlay := flag.String("overlay", "", "overlay to apply (with -out) or to write (with -sdk)")
	sdk := flag.String("sdk", "", `directory of the aws-sdk-go-v2 service module, or "module" for the version in go.mod`)
	out := flag.String("out", "", "output file (-trim) or directory (-model)")
	pkg := flag.String("pkg", "ecapi", "package name of the generated code")
	version := flag.String("botocore-version", "", "botocore version for the README (default: read from the botocore package)")
	flag.Parse()
	var err error
	switch {
	case *trim != "" && *out != "":
		err = runTrim(*trim, *out, *version)
	case *model != "" && *sdk != "" && *overlay != "":
		err = runOverlay(*model, *sdk, *overlay)
	case *model != "" && *out != "":
		err = runGenerate(*model, *overlay, *out, *pkg)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ecgen:", err)
		os.Exit(1)
	}
}

func runTrim(in, out, version string) error {
	data, err := trimModel(in)
	if err != nil {
		return err
	}
	if version == "" {
		if version, err = botocoreVersion(in); err != nil {
			return err
		}
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(filepath.Dir(out), "README.md"), []byte(readmeText(version)), 0o644)
}

var versionRE = regexp.MustCompile(`(?m)^__version__\s*=\s*['"]([^'"]+)['"]`)

// botocoreVersion reads __version__ from the botocore package that holds
// the model file at path (…/botocore/data/<service>/<version>/service-2.json.gz).
func botocoreVersion(path string) (string, error) {
	dir, _ := filepath.Abs(path)
	for i := 0; i < 6; i++ {
		dir = filepath.Dir(dir)
		src, err := os.ReadFile(filepath.Join(dir, "__init__.py"))
		if err != nil {
			continue
		}
		if m := versionRE.FindSubmatch(src); m != nil && filepath.Base(dir) == "botocore" {
			return string(m[1]), nil
		}
	}
	return "", fmt.Errorf("cannot tell the botocore version of %s; pass -botocore-version", path)
}

// moduleDir returns the module cache directory and version of the
// aws-sdk-go-v2 module go.mod requires, downloading it if needed.
func moduleDir() (string, string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", sdkModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go mod download %s: %v: %s", sdkModule, err, strings.TrimSpace(stderr.String()+string(out)))
	}
	var info struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", "", err
	}
	if info.Error != "" || info.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s: %s", sdkModule, info.Error)
	}
	return info.Dir, info.Version, nil
}

// overlayFor derives the overlay of the trimmed model at modelPath from the
// SDK module at dir ("module": the version go.mod requires).
func overlayFor(modelPath, dir string) ([]byte, error) {
	var version string
	var err error
	if dir == "module" {
		dir, version, err = moduleDir()
	} else {
		version, err = sdkModuleVersion(dir)
	}
	if err != nil {
		return nil, err
	}
	base, err := os.ReadFile(modelPath)
	if err != nil {
		return nil, err
	}
	sdk, err := readSDK(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return deriveOverlay(base, sdk, sdkModule, version)
}

func runOverlay(modelPath, dir, out string) error {
	data, err := overlayFor(modelPath, dir)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

func runGenerate(modelPath, overlayPath, outDir, pkg string) error {
	data, err := os.ReadFile(modelPath)
	if err != nil {
		return err
	}
	var overlay []byte
	if overlayPath != "" {
		if overlay, err = os.ReadFile(overlayPath); err != nil {
			return err
		}
	}
	files, err := generate(data, overlay, pkg)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.HasSuffix(n, "_gen.go") {
			return fmt.Errorf("refusing to write %s", n)
		}
		if err := os.WriteFile(filepath.Join(outDir, n), files[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}

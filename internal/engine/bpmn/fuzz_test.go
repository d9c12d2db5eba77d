package bpmn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse: it must not panic, and whatever it
// accepts must export and import again.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.bpmn", "testdata/miwg/*.bpmn"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`<definitions xmlns="` + NSModel + `"><process id="p"><task id="t"/></process></definitions>`))
	// Nesting at and past the depth limit, in flow elements and in extensions.
	f.Add([]byte(deepModel()))
	f.Add([]byte(`<definitions xmlns="` + NSModel + `"><process id="p">` + strings.Repeat("<subProcess>", MaxDepth) + `</process></definitions>`))
	f.Add([]byte(`<definitions xmlns="` + NSModel + `"><process id="p"><task id="t"><extensionElements>` +
		strings.Repeat(`<v:x xmlns:v="urn:v">`, MaxDepth-5) + strings.Repeat(`</v:x>`, MaxDepth-5) + `</extensionElements></task></process></definitions>`))
	f.Add([]byte(`<definitions xmlns="` + NSModel + `"><process id="p"><laneSet>` + strings.Repeat(`<lane><childLaneSet>`, 40) + `</laneSet></process></definitions>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := ParseBytes(doc)
		if err != nil {
			return
		}
		_ = Check(d)
		_ = NewIndex(d)
		out, err := Marshal(d)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		// Export is linear: indentation, prefixes and the implicit flow lists add a
		// bounded amount per element.
		if len(out) > 10*len(doc)+4096 {
			t.Fatalf("export of %d bytes is %d bytes", len(doc), len(out))
		}
		if _, err := ParseBytes(out); err != nil {
			t.Fatalf("re-parse of export: %v\n%s", err, out)
		}
	})
}

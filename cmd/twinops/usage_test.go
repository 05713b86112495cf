package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageListsConsoleFlags(t *testing.T) {
	var out bytes.Buffer
	printUsage(&out)
	for _, want := range []string{"console flags:", "-hub string", "-connection-string", "-ca string", "-context", "-data", "-theme", "-read-only", "-devices int", "commands:", "sim "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not list %q:\n%s", want, out.String())
		}
	}
}

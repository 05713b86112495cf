package main

import (
	"strings"
	"testing"
)

func TestBenchFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string // "" = accepted
		command string // with wantErr "": the recorded command
	}{
		"defaults": {args: nil, command: "twinops bench"},
		"shaping flags recorded, output flags not": {
			args:    []string{"--scenario", "desired", "--devices", "10", "--quiet", "--json", "x.json", "--query", "SELECT 1"},
			command: "twinops bench --devices 10 --query 'SELECT 1' --scenario desired",
		},
		"two targets":           {args: []string{"--spawn", "--broker", "mochi", "--scenario", "relay"}, wantErr: "give one target"},
		"broker for twins":      {args: []string{"--broker", "127.0.0.1:1883", "--scenario", "reported"}, wantErr: "needs a twin hub"},
		"hub without creds":     {args: []string{"--hub", "mqtt://127.0.0.1:1", "--connection-string", ""}, wantErr: "needs --connection-string"},
		"stray argument":        {args: []string{"reported"}, wantErr: `unexpected argument "reported"`},
		"bad duration":          {args: []string{"--duration", "ten"}, wantErr: "invalid value"},
		"relay on any broker":   {args: []string{"--broker", "127.0.0.1:1883", "--scenario", "relay"}, command: "twinops bench --broker 127.0.0.1:1883 --scenario relay"},
		"bool flag bare in cmd": {args: []string{"--embedded"}, command: "twinops bench --embedded"},
		"false bool flag in cmd": {args: []string{"--scenario", "notify", "--storm=false", "--devices", "5"},
			command: "twinops bench --devices 5 --scenario notify --storm=false"},
		"no storm outside notify": {args: []string{"--storm=false"}, wantErr: "--storm=false is for --scenario notify"},
		"budget of a running hub": {args: []string{"--hub", "mqtt://127.0.0.1:1", "--connection-string", "x", "--device-budget", "4"},
			wantErr: "give it to twinops hub"},
		"budget of a spawned hub": {args: []string{"--spawn", "--device-budget", "4"}, command: "twinops bench --device-budget 4 --spawn"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("TWINOPS_CONNECTION_STRING", "")
			f, err := parseBenchFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseBenchFlags(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBenchFlags(%q): %v", tc.args, err)
			}
			if f.command != tc.command {
				t.Errorf("command = %q, want %q", f.command, tc.command)
			}
		})
	}
}

// Command demo runs the console against the fake live hub of package uitest: a
// synthetic fleet of any size with reported changes at a chosen rate. It is the tool for
// looking at the screens without a hub and for measuring start-up with a large fleet.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/ui"
	"github.com/twinops/twinops/ui/uitest"
)

func main() {
	n := flag.Int("devices", 200, "fleet size")
	rate := flag.Int("rate", 20, "reported changes per second")
	readOnly := flag.Bool("read-only", false, "hide write actions")
	flag.Parse()
	docs := uitest.Fleet(*n)
	live := uitest.NewLive(time.Now, docs...)
	live.Echo = 700 * time.Millisecond
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.DeviceID
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *rate > 0 {
		go live.Churn(ctx, *rate, ids)
	}
	m := ui.New(ui.Options{Backend: live, ReadOnly: *readOnly, Context: ctx, Mono: os.Getenv("NO_COLOR") != ""})
	if _, err := tea.NewProgram(m, tea.WithContext(ctx)).Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

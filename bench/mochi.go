package bench

import (
	"fmt"
	"io"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// allowAll lets every client connect and use every topic. (mochi's own AllowHook package
// pulls in a YAML module this repository does not carry.)
type allowAll struct{ mqtt.HookBase }

func (allowAll) ID() string { return "allow-all" }

func (allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// StartMochi runs a plain mochi-mqtt broker (the engine inside the hub, with no twin
// work) on a free 127.0.0.1 port, for the relay baseline. It returns its address and a
// function that stops it.
func StartMochi() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	opts := &mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s := mqtt.New(opts)
	if err := s.AddHook(new(allowAll), nil); err != nil {
		return "", nil, err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "bench", Address: addr})); err != nil {
		return "", nil, fmt.Errorf("mochi listener on %s: %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		if err != nil {
			return "", nil, err
		}
	default:
	}
	return addr, func() { s.Close() }, nil
}

package main

import (
	"context"
	"errors"
)

func runDevice(ctx context.Context, args []string) error { return errors.New("cli: not built yet") }

func runTwin(ctx context.Context, args []string) error { return errors.New("cli: not built yet") }

func runQuery(ctx context.Context, args []string) error { return errors.New("cli: not built yet") }

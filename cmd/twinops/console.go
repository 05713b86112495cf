package main

import (
	"context"
	"errors"
)

func runConsole(ctx context.Context, args []string) error {
	return errors.New("console: not built yet")
}

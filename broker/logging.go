package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisLogger forwards go-redis's own messages (connection failures and
// the like) to slog at debug level, so they go through the program's
// handler (its format, its level and its secret scrubbing) instead of
// being printed to stderr. The supervisor reports broker errors itself.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

var setLoggerOnce sync.Once

// routeClientLogs installs log as go-redis's logger. go-redis has one
// process-wide logger, so the first Redis created with a Logger sets it.
func routeClientLogs(log *slog.Logger) {
	if log == nil {
		return
	}
	setLoggerOnce.Do(func() { redis.SetLogger(redisLogger{log: log}) })
}

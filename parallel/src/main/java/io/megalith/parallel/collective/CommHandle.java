package io.megalith.parallel.collective;

import io.megalith.comm.CommException;
import io.megalith.comm.Handle;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** A {@link Handle} over the future an operation completes; {@link #await()} rethrows its CommException. */
final class CommHandle implements Handle {
    private final CompletableFuture<?> future;

    CommHandle(CompletableFuture<?> future) {
        this.future = future;
    }

    @Override
    public void await() {
        join(future);
    }

    @Override
    public boolean isDone() {
        return future.isDone();
    }

    /** Waits for {@code f} (which always completes: every operation has a deadline) and returns its value. */
    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof CommException ce) {
                throw ce;
            }
            throw e;
        }
    }
}

package io.megalith.comm;

/** An operation started asynchronously: {@link #await()} blocks until it is done and rethrows its failure. */
public interface Handle {
    /** Waits for completion; throws the operation's {@link CommException} if it failed. */
    void await();

    boolean isDone();

    /** A handle that is already complete. */
    static Handle done() {
        return new Handle() {
            @Override
            public void await() {}

            @Override
            public boolean isDone() {
                return true;
            }
        };
    }
}

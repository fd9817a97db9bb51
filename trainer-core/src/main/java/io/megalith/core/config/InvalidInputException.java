package io.megalith.core.config;

import java.io.IOException;

/**
 * Input that no retry can fix: a data file that is missing or not what its tokenizer reads, or a
 * {@code checkpoint.init_from} base that is not one. Thrown in a rank, it tells the driver not to resubmit the job
 * ({@code launch.max_attempts} is for failed ranks and executors), and the command exits 2 with its message. An
 * {@link IOException}, so the methods that read inputs keep their signatures.
 */
public class InvalidInputException extends IOException {
    private static final long serialVersionUID = 1L;

    public InvalidInputException(String message) {
        super(message);
    }

    public InvalidInputException(String message, Throwable cause) {
        super(message, cause);
    }
}

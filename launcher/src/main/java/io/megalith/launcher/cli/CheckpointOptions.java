package io.megalith.launcher.cli;

import io.megalith.core.inference.RunCheckpoint;
import picocli.CommandLine.Option;

/** What every command that loads a trained run asks alike (a picocli mixin): which checkpoint, and libtorch's threads. */
final class CheckpointOptions {
    @Option(names = "--step", paramLabel = "N", description = "load the checkpoint of this step (default: the latest "
            + "complete one)")
    Long step;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "libtorch threads (0 = its default)")
    int threads;

    /** The checkpoint of {@code runDir} these options name. */
    RunCheckpoint of(String runDir) {
        return new RunCheckpoint(runDir, step);
    }
}

package io.megalith.launcher.cli;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.InvalidInputException;
import io.megalith.launcher.spark.SubmitLogging;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code megalith} command: train a model from a YAML config, or sample from a trained run. */
@Command(name = "megalith", mixinStandardHelpOptions = true, version = "megalith 0.1.0",
        description = "Distributed training of transformers on the JVM.",
        subcommands = {TrainCommand.class, FinetuneCommand.class, GenerateCommand.class, ClipCommand.class,
                CkptCommand.class, QuantizeCommand.class, EvalCommand.class, SparkCheckCommand.class,
                CommandLine.HelpCommand.class})
public final class Megalith {
    /** Exit code of a configuration error (nothing was started or written), or of invalid input a config names. */
    public static final int CONFIG_ERROR = 2;

    public static void main(String[] args) {
        SubmitLogging.applyIfSubmitted();
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Megalith());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof ConfigException) {
                cmd.getErr().println("megalith: " + e.getMessage());
                return CONFIG_ERROR;
            }
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof InvalidInputException) { // the data or base a config names: fix them, then rerun
                    cmd.getErr().println("megalith: invalid input: " + c.getMessage());
                    return CONFIG_ERROR;
                }
            }
            cmd.getErr().println("megalith: " + cmd.getCommandName() + " failed: " + e);
            if (System.getenv("MEGALITH_DEBUG") != null) {
                e.printStackTrace(cmd.getErr());
            }
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                cmd.getErr().println("  caused by: " + c);
            }
            return 1;
        });
        return cli.execute(args);
    }
}

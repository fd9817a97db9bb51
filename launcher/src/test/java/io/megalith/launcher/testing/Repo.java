package io.megalith.launcher.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The repository's root (tests run in a module's directory) and its shipped configs, conf/*.yaml. */
public final class Repo {
    private Repo() {}

    public static Path root() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("conf/addition.yaml")) && Files.isRegularFile(p.resolve("megalith"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root above " + Path.of("").toAbsolutePath());
    }

    public static List<Path> shippedConfigs() {
        try (Stream<Path> files = Files.list(root().resolve("conf"))) {
            return files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

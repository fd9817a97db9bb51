package io.megalith.core.tensor;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Loads libtorch through DJL exactly once per JVM, offline, and configures its threads.
 *
 * <p>libtorch comes from the {@code pytorch-native-cpu} classifier jar on the classpath; DJL's
 * offline mode guarantees nothing is downloaded. Grad mode is thread-local in libtorch and a new
 * Java thread starts with it on, so every thread that computes calls {@link #enterThread()}.
 */
public final class Torch {
    private static volatile boolean loaded;

    private Torch() {}

    /** Loads the engine (idempotent) with {@code threads} intra-op threads (0 = leave as is). */
    public static synchronized void load(int threads) {
        if (!loaded) {
            System.setProperty("ai.djl.offline", "true");
            if (System.getProperty("DJL_CACHE_DIR") == null && System.getenv("DJL_CACHE_DIR") == null) {
                System.setProperty("DJL_CACHE_DIR", System.getProperty("user.home") + "/.djl.ai");
            }
            Engine engine = Engine.getEngine("PyTorch");
            if (engine == null) {
                throw new IllegalStateException("DJL PyTorch engine not found on the classpath");
            }
            loaded = true;
        }
        if (threads > 0 && JniUtils.getNumThreads() != threads) {
            JniUtils.setNumThreads(threads);
        }
        enterThread();
    }

    /** Turns libtorch's thread-local grad mode off: autograd is enabled explicitly per forward pass. */
    public static void enterThread() {
        JniUtils.setGradMode(false);
    }

    /** A new root manager on the CPU. */
    public static NDManager newManager() {
        load(0);
        return NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    public static int threads() {
        return JniUtils.getNumThreads();
    }
}

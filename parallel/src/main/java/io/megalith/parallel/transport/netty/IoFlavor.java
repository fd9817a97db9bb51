package io.megalith.parallel.transport.netty;

import io.netty.channel.Channel;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;

/**
 * Native epoll when it loads, else NIO. Epoll is looked up reflectively because its classes are a
 * runtime-only dependency (and absent off Linux); the NIO fallback needs nothing extra.
 */
record IoFlavor(String name, IoHandlerFactory factory, Class<? extends ServerChannel> serverChannel,
        Class<? extends Channel> channel) {

    static final IoFlavor BEST = detect();

    private static IoFlavor detect() {
        try {
            ClassLoader cl = IoFlavor.class.getClassLoader();
            Class<?> epoll = Class.forName("io.netty.channel.epoll.Epoll", true, cl);
            if ((Boolean) epoll.getMethod("isAvailable").invoke(null)) {
                Class<?> handler = Class.forName("io.netty.channel.epoll.EpollIoHandler", true, cl);
                return new IoFlavor("epoll", (IoHandlerFactory) handler.getMethod("newFactory").invoke(null),
                        Class.forName("io.netty.channel.epoll.EpollServerSocketChannel", true, cl).asSubclass(ServerChannel.class),
                        Class.forName("io.netty.channel.epoll.EpollSocketChannel", true, cl).asSubclass(Channel.class));
            }
        } catch (ReflectiveOperationException | LinkageError | ClassCastException e) {
            // fall through to NIO
        }
        return new IoFlavor("nio", NioIoHandler.newFactory(), NioServerSocketChannel.class, NioSocketChannel.class);
    }
}

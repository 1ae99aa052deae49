# The gateway server for ECS Fargate: the `gateway` command running `gateway serve --aws` (the API
# on the stack's DynamoDB table with the KMS/Secrets Manager CA key, the HTTP server, the sweep
# loop; configured by the task's environment, see `gateway serve --help`). `cdk synth` only copies
# this context; the image is built at deploy for linux/arm64 (the task's platform) on any host.
#
# Stage 1 bundles the command with esbuild (lib/bundles.ts) on the build host's own platform
# ($BUILDPLATFORM): no emulation, and its output is plain JavaScript, the same on every CPU;
# the environment agent bundle goes beside it (GET /v1/agent/... serves it).
# Stage 2 is the target platform's Node.js and those files: nothing with native code is
# installed in it, so nothing built for the build host can end up in the image.
FROM --platform=$BUILDPLATFORM public.ecr.aws/docker/library/node:22-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY lib/bundles.ts lib/paths.ts ./lib/
RUN npx tsx lib/bundles.ts --server /out/gateway.js && npx tsx lib/bundles.ts --agent /out/gateway-agent.js

FROM public.ecr.aws/docker/library/node:22-slim
ENV NODE_ENV=production NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /out/ ./
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/app/gateway.js"]
CMD ["serve", "--aws", "--host", "0.0.0.0"]

# mkt-x: one image, every role. SERVICES chooses what a container runs (see docker-compose.yml).
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The node devDependency is not needed here: the image already is Node 24.
RUN npm ci --omit=dev --no-audit --no-fund
COPY scripts/console-build.ts scripts/
COPY console/src console/src
# The web console (/console): built here, from the image's own node_modules.
RUN node scripts/console-build.ts
COPY . .
USER node
EXPOSE 5000
CMD ["node", "bin/start.ts"]
